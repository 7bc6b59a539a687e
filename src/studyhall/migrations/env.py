"""Alembic environment: the URL comes from studyhall's configuration, never from a file.

`studyhall.migrations` passes its settings in `config.attributes["settings"]`, or a
connection to work in (`config.attributes["connection"]`: inside the caller's transaction,
which the caller commits); the `alembic` command line resolves the settings with
`load_settings()` (DATABASE_URL, DB_*, or the embedded SQLite file), as the application does.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal, cast

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import String
from sqlalchemy.engine import Connection

from studyhall.config import DatabaseSettings, load_settings
from studyhall.db.backends import build_engine
from studyhall.models import Base
from studyhall.models.constraints import schema_filter
from studyhall.models.types import StrEnumType

config = context.config
target_metadata = Base.metadata

# The `alembic` command line logs as alembic.ini says; called from studyhall, the
# application's logging stays as it is.
if config.config_file_name and "settings" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not depend on model code that may change later: an enum column
    # is a plain VARCHAR in the database.
    if kind == "type" and isinstance(item, StrEnumType):
        length = cast(String, item.impl_instance).length
        return f"sa.{String(length)!r}"
    return False


def configure(connection: Connection | None = None, **options: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        # SQLite alters a table by copying it; batch mode lets autogenerate say so.
        render_as_batch=connection is not None and connection.dialect.name == "sqlite",
        # Autogenerate compares what the models make on this backend (one_true_per_parent).
        include_object=schema_filter(Base.metadata, connection.dialect.name)
        if connection is not None
        else None,
        **options,
    )


def settings() -> DatabaseSettings:
    given = config.attributes.get("settings")
    return given if isinstance(given, DatabaseSettings) else load_settings()


def run_offline() -> None:
    configure(url=settings().url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = build_engine(settings(), pooled=False)
    try:
        with engine.connect() as connection:
            configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
