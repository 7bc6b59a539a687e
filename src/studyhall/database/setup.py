"""`DatabaseManager`: the process-wide entry point to the database.

Running this file (`python src/studyhall/database/setup.py`) does a full set-up: create
the database if missing, create the tables, load the sample data.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Engine, MetaData, Table, inspect
from sqlalchemy.exc import DBAPIError

from studyhall.database.config import DatabaseSettings, load_settings
from studyhall.database.connectivity import unavailable_error
from studyhall.database.dialects import ensure_database, foreign_key_checks_off
from studyhall.database.engine import Database
from studyhall.database.errors import (
    ConfigurationError,
    StudyhallError,
    UnsafeOperationError,
)
from studyhall.database.transaction import Propagation, UnitOfWork
from studyhall.utils.logger import get_logger

if TYPE_CHECKING:
    from studyhall.database.sample_data import Progress, SampleDataSummary

log = get_logger(__name__)

# Where Alembic records the revision (its default name; migrations/env.py keeps it).
ALEMBIC_VERSION_TABLE = "alembic_version"


def _metadata() -> MetaData:
    # Imported here: the models import the session context from this package.
    from studyhall.models import Base

    return Base.metadata


def _ask_on_terminal(prompt: str) -> str | None:
    """Ask `prompt` on the terminal; None when standard input is not a terminal."""
    if not sys.stdin or not sys.stdin.isatty():
        return None
    return input(prompt)


class DatabaseManager:
    """Class-level singleton holding the process's one `Database`.

    `initialize()` builds it once (thread-safe); `cleanup()` disposes of it so that the
    next `initialize()` starts afresh.
    """

    _database: ClassVar[Database | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()
    ask: ClassVar[Callable[[str], str | None]] = staticmethod(_ask_on_terminal)

    @classmethod
    def initialize(cls, settings: DatabaseSettings | None = None) -> Database:
        """Build the engine and session factory once; later calls return the same one.

        Passing settings that differ from those it was initialized with is an error:
        call `cleanup()` first to switch databases.
        """
        database = cls._database
        if database is None:
            with cls._lock:
                if cls._database is None:
                    resolved = settings or cls.validate_environment()
                    cls._database = Database(resolved)
                    log.info("Database engine ready: %s", resolved.masked_url)
                database = cls._database
        if settings is not None and settings != database.settings:
            raise ConfigurationError(
                f"DatabaseManager is already initialized with {database.settings.masked_url}; "
                f"it cannot switch to {settings.masked_url} while in use. Call "
                "DatabaseManager.cleanup() first."
            )
        return database

    @classmethod
    def database(cls) -> Database:
        """The process's Database, initializing it on first use."""
        return cls._database or cls.initialize()

    @staticmethod
    def validate_environment() -> DatabaseSettings:
        """Return the settings resolved from the environment; raise ConfigurationError."""
        return load_settings()

    @classmethod
    def ensure_database_exists(cls, settings: DatabaseSettings | None = None) -> bool:
        """Create the configured database if it is missing; True when it was created."""
        settings = settings or (cls._database.settings if cls._database else load_settings())
        try:
            created = ensure_database(settings)
        except StudyhallError:
            raise
        except DBAPIError as exc:
            raise unavailable_error(settings, exc) from exc
        if created:
            log.info("Created database %s", settings.database)
        return created

    @classmethod
    def create_database_engine(cls) -> Engine:
        """Return the pooled engine (initializing the manager when needed)."""
        return cls.database().engine

    @classmethod
    def get_session(
        cls,
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> UnitOfWork:
        """Context manager yielding the current unit of work's session.

        Commits on success and rolls back on error when it owns the unit of work.
        """
        return cls.database().unit_of_work(
            propagation, read_only=read_only, isolation_level=isolation_level
        )

    @classmethod
    def create_tables(cls) -> list[str]:
        """Create every missing table; return the names of those created. Idempotent."""
        engine = cls.database().engine
        metadata = _metadata()
        with engine.begin() as conn:
            existing = set(inspect(conn).get_table_names())
            metadata.create_all(conn)
        created = [t.name for t in metadata.sorted_tables if t.name not in existing]
        log.info("Created %d table(s)", len(created))
        return created

    @classmethod
    def drop_tables(cls, force: bool = False) -> list[str]:
        """Drop every studyhall table and Alembic's revision record; return their names.

        Without `force`, the operator must type the database name on a terminal; with no
        terminal the call refuses and drops nothing.
        """
        database = cls.database()
        name = database.settings.database or ""
        if not force:
            answer = cls.ask(f"This drops every table of {name!r}. Type its name to confirm: ")
            if answer is None:
                raise UnsafeOperationError(
                    f"Refusing to drop the tables of {name!r} without confirmation: there is "
                    "no terminal to ask on. Pass force=True (`--yes` on the command line)."
                )
            if answer.strip() != name:
                raise UnsafeOperationError(
                    f"Not dropped: {answer.strip()!r} is not the database name {name!r}."
                )
        metadata = _metadata()
        # Alembic's record of the revision goes too: left behind, it would make a later
        # upgrade believe the schema is there and create nothing.
        alembic_version = Table(ALEMBIC_VERSION_TABLE, MetaData())
        with database.engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            with foreign_key_checks_off(conn):
                metadata.drop_all(conn)
                alembic_version.drop(conn, checkfirst=True)
                conn.commit()
        names = [t.name for t in metadata.sorted_tables] + [ALEMBIC_VERSION_TABLE]
        dropped = [name_ for name_ in names if name_ in present]
        log.info("Dropped %d table(s) of %s", len(dropped), name)
        return dropped

    @classmethod
    def populate_sample_data(
        cls,
        clear_existing: bool = False,
        scale: int = 1,
        progress: Progress | None = None,
    ) -> SampleDataSummary:
        """Load the deterministic sample data; see `studyhall.database.sample_data`."""
        from studyhall.database import sample_data

        return sample_data.populate(
            cls.database(), clear_existing=clear_existing, scale=scale, progress=progress
        )

    @classmethod
    def cleanup(cls) -> None:
        """Dispose of the pool; the next `initialize()` builds a new engine."""
        with cls._lock:
            database, cls._database = cls._database, None
        if database is not None:
            database.dispose()


def main() -> int:
    """Full set-up (database, tables, sample data), as `studyhall-db setup` does."""
    from studyhall.database.cli import main as cli

    try:
        cli.main(["setup"], prog_name="setup.py")  # click exits with the command's status
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


__all__ = ["DatabaseManager"]

if __name__ == "__main__":
    raise SystemExit(main())
