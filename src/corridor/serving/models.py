"""The serving slice's tables (a stub until they land)."""
