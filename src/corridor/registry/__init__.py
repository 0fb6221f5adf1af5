"""The model registry: registered models, versions, aliases, stages, packages and lineage."""
