"""What every listing shares: the MLflow-style filter language, its SQL, and page tokens.

Tracking and the registry both search with it, so it lives below both slices instead of inside
one of them (the registry used to reach into tracking's internals for it).
"""
