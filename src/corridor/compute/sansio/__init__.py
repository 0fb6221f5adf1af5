"""The compute slice's pure parts: this package does no I/O.

Units, resources, the job state machine, queue ordering, placement, time shifting and hourly
traces take plain values and return plain values. Nothing here reads a clock (``now`` is always
a parameter), a file, the database or the network, so every policy is tested without servers
and benchmarked in simulation.
"""
