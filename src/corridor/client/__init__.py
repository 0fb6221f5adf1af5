"""The Python SDK: one client over HTTP or in-process."""
