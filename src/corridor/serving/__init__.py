"""Serving: deployments of registered models behind an Open Inference Protocol v2 gateway.

- `spec`: what a deployment asks for (routes, replicas, batching, autoscaling, traffic, graph)
- `tensors`: tensor specs and signatures in the protocol's datatypes
- `protocol/`: the OIP v2 (JSON and binary) and OpenAI-style wire formats; no I/O
- `sansio/`: the pure policies (batching, autoscaling, traffic, balancing, graphs)
- `runtimes/`: one seam, a registry of model backends (torch, ONNX, skops, python function...)
- `replicas/`: where a loaded model runs (the gateway's process, local processes, Ray actors)
- `plane`: the live deployments of one server process; `gateway/`: the lean ASGI hot path
- `models`, `schemas`, `service`, `api`, `cli`: the control plane (tables, routes, commands)
"""
