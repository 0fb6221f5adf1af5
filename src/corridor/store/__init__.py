"""Metadata store (SQLAlchemy + Alembic) and blob store (content-addressed, encrypted)."""
