"""The driver: the process that executes a pipeline run's graph (in-process steps on a thread
pool, job steps as compute jobs) and records it on the server, over a link that survives
outages. It runs where the user's code is: the caller's process, or a server-started run's
driver job; never in the server."""
