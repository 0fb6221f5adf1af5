"""Functions the SDK tests run as jobs, from a snapshot of a copy of this folder."""
