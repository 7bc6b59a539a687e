"""`DatabaseManager`: the process-wide entry point to the database.

Running this file (`python src/studyhall/database/setup.py`) does a full set-up: create
the database if missing, create the tables, load the sample data.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Engine, MetaData
from sqlalchemy.exc import DBAPIError

from studyhall.database import schema
from studyhall.database.config import DatabaseSettings, load_settings
from studyhall.database.dialects import ensure_database
from studyhall.database.engine import Database
from studyhall.database.error_translation import connect_error
from studyhall.database.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    StudyhallError,
    UnsafeOperationError,
)
from studyhall.database.schema import DDL_LOCK_TIMEOUT, names_missing_database
from studyhall.database.transaction import Propagation, UnitOfWork
from studyhall.utils.logger import get_logger

if TYPE_CHECKING:
    from studyhall.database.sample_data import Progress, SampleDataSummary

log = get_logger(__name__)

# Logged by initialize() when the database cannot be used yet; the app starts anyway.
UNUSABLE_YET = "The database cannot be used yet (its first use will fail the same way): %s"

# Where Alembic records the revision (its default name; migrations/env.py keeps it).
ALEMBIC_VERSION_TABLE = "alembic_version"


def _metadata() -> MetaData:
    # Imported here: the models import the session context from this package.
    from studyhall.models import Base

    return Base.metadata


def _describe(exc: BaseException, settings: DatabaseSettings) -> str:
    """One line on why connecting failed, without any password."""
    if isinstance(exc, StudyhallError):
        return str(exc)
    return str(connect_error(settings, exc))


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
        """Set up the database once; later calls return the same `Database`.

        The steps of the seed: `validate_environment()` (unless `settings` are given),
        `ensure_database_exists()` (the SQLite file's folder too), then the engine
        (`create_database_engine()` returns it). A server that cannot be reached yet is
        logged as a warning, not raised: an app may start before its database, and the
        first use then says what is wrong. Thread-safe. Passing settings that differ from
        those it was initialized with is an error: call `cleanup()` first.
        """
        database = cls._database
        if database is None:
            with cls._lock:
                if cls._database is None:
                    resolved = settings or cls.validate_environment()
                    cls._database = cls._open(resolved)
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
    def _open(cls, settings: DatabaseSettings) -> Database:
        """Make sure the database exists, then build its engine. Called under the lock."""
        if settings.backend == "sqlite":
            # Local and cheap: make the folder and the file, then the engine.
            try:
                cls.ensure_database_exists(settings)
            except DatabaseUnavailableError as exc:
                log.warning(UNUSABLE_YET, exc)
            return Database(settings)
        database = Database(settings)
        try:
            # One connection to the database itself: it says whether the database exists
            # (and needs no rights on the server's other databases when it does), and
            # then waits in the pool for the first unit of work.
            with database.engine.connect():
                pass
        except (StudyhallError, DBAPIError) as exc:
            if not names_missing_database(exc):
                log.warning(UNUSABLE_YET, _describe(exc, settings))
                return database
            try:
                cls.ensure_database_exists(settings)
            except BaseException:
                database.dispose()
                raise
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
        """Create the configured database if it is missing; True when it was created.

        On SQLite: the file's folder and an empty file. `initialize()` calls it.
        """
        settings = settings or (cls._database.settings if cls._database else load_settings())
        try:
            created = ensure_database(settings)
        except StudyhallError:
            raise
        except DBAPIError as exc:
            raise connect_error(settings, exc) from exc
        except OSError as exc:  # SQLite: the folder cannot be made, or is not writable
            raise DatabaseUnavailableError(
                f"Cannot create the SQLite database file {settings.database}: "
                f"{exc.strerror or exc}. Make its folder writable, or point DATABASE_URL at "
                "another path."
            ) from exc
        if created:
            log.info("Created database %s", settings.database)
        return created

    @classmethod
    def create_database_engine(cls) -> Engine:
        """Return the pooled engine, initializing the manager (as `initialize()`) when needed."""
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
    def create_tables(cls, *, lock_timeout: float = DDL_LOCK_TIMEOUT) -> list[str]:
        """Create every missing table; return the names of those created. Idempotent.

        Waits at most `lock_timeout` seconds for another transaction's lock, then raises
        ConflictError naming who holds it.
        """
        created = schema.create_tables(
            cls.database().engine, _metadata(), lock_timeout=lock_timeout
        )
        log.info("Created %d table(s)", len(created))
        return created

    @classmethod
    def drop_tables(
        cls, force: bool = False, *, lock_timeout: float = DDL_LOCK_TIMEOUT
    ) -> list[str]:
        """Drop every studyhall table and Alembic's revision record; return their names.

        Without `force`, the operator must type the database name on a terminal; with no
        terminal the call refuses and drops nothing. Waits at most `lock_timeout` seconds
        for another transaction's lock, then raises ConflictError naming who holds it;
        two drops at once both end cleanly.
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
        # Alembic's record of the revision goes too: left behind, it would make a later
        # upgrade believe the schema is there and create nothing.
        dropped = schema.drop_tables(
            database.engine, _metadata(), [ALEMBIC_VERSION_TABLE], lock_timeout=lock_timeout
        )
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
