"""Schema migrations with Alembic: `upgrade`, `downgrade`, `current_revision`.

The Alembic environment is this package (`script_location = studyhall:migrations`), so it
ships in the wheel. The database comes from the settings given, else from `load_settings()`.

Which to use: `DatabaseManager.create_tables()` builds the current schema at once, for a
new throwaway or development database. A database whose data must be kept is managed by
migrations only: create it with `upgrade()`, and run `upgrade()` after each update of
studyhall. Never mix the two on one database (create_tables() writes no alembic_version,
so a later upgrade would try to create the tables again); to adopt such a database, run
`alembic stamp head` once.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

from studyhall.config import DatabaseSettings, load_settings
from studyhall.db.backends import build_engine
from studyhall.db.engine import Database

SCRIPT_LOCATION = "studyhall:migrations"

# What names the database to migrate: a `Database` (e.g. `DatabaseManager.database()`),
# its settings, a URL, or None for the configuration (DATABASE_URL, DB_*, embedded).
Target = Database | DatabaseSettings | URL | str | None


def resolve(target: Target) -> DatabaseSettings:
    """The settings of the database that `target` names."""
    if target is None:
        return load_settings()
    if isinstance(target, Database):
        return target.settings
    if isinstance(target, DatabaseSettings):
        return target
    return DatabaseSettings(url=make_url(target), source="DATABASE_URL")


def alembic_config(target: Target = None) -> Config:
    """The Alembic Config of studyhall, bound to the database of `target`."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["settings"] = resolve(target)
    return config


def upgrade(target: Target = None, revision: str = "head") -> None:
    """Migrate the database of `target` up to `revision` (default: the newest)."""
    command.upgrade(alembic_config(target), revision)


def downgrade(target: Target = None, revision: str = "base") -> None:
    """Migrate the database of `target` down to `revision` (default: no schema at all)."""
    command.downgrade(alembic_config(target), revision)


def current_revision(target: Target = None) -> str | None:
    """The revision the database of `target` is at; None when it has none."""
    engine = build_engine(resolve(target), pooled=False)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest revision of the migration scripts."""
    return ScriptDirectory.from_config(alembic_config(URL.create("sqlite"))).get_current_head()


__all__ = [
    "SCRIPT_LOCATION",
    "Target",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "resolve",
    "upgrade",
]
