"""Executors: the one seam between the scheduler and the machines that run jobs.

The scheduler hands an executor an ``Assignment``; the executor starts the same stdlib-only
worker (``python -m corridor.compute.worker``) wherever it runs jobs, and that worker talks back
to the server over HTTP. Backends are chosen by name from ``registry.EXECUTORS``.
"""
