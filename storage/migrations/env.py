"""Alembic environment: `convenant init` hands over its connection; the alembic CLI may use a URL instead."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from convenant.storage.tables import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise SystemExit("alembic: set sqlalchemy.url (or run `convenant init`, which hands over its connection)")
        engine = create_engine(url)
        with engine.begin() as connection:
            _configure(connection)
    else:
        _configure(connection)


def _configure(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


run()
