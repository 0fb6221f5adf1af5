"""HTTP glue below `corridor.server` that slice routers share.

Slices import this package, never `corridor.server`: the app factory sits above every slice, and a
slice that reached up into it would make the dependency direction a cycle.
"""
