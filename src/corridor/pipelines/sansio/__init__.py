"""The pipelines slice's pure parts: the graph, cache keys and cron. No I/O."""
