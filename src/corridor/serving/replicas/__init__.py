"""Replicas: where a loaded model runs (`base.Replica`), one module per kind."""
