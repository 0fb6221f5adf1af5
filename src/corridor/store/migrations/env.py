"""Alembic environment: runs on the connection that ``corridor.store.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from corridor.store.dialects import dialect_named

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # Upgrades need no models; a caller comparing or generating passes the slices' metadata
    # (`corridor.slices.metadata()`), since the store must not import the slices.
    target_metadata=context.config.attributes.get("target_metadata"),
    render_as_batch=dialect_named(connection.dialect.name).alter_in_batches,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
