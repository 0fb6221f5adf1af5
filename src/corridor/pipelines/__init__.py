"""Pipelines: Python DAGs of steps, run on the compute layer, with caching, fan-out and triggers."""
