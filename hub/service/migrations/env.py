"""Alembic environment: run against the connection the hub hands over, or the URL.

On PostgreSQL the upgrade takes a transaction-level advisory lock, so hub
workers starting together against one database migrate it once, in turn.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from hub.service.models import Base

MIGRATION_LOCK = 0x6875625F6D6967  # "hub_mig"


def _run(connection) -> None:  # noqa: ANN001
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
