"""The compute slice: durable jobs, a resource-aware scheduler over sites, executors, energy.

A job is a command or a Python function with its resources; the scheduler places it on a site
(a local process pool or a Ray cluster) minimising cost, carbon or completion time; the executor
runs it; its energy and carbon are measured and kept. The pure policies live in ``sansio``.
"""
