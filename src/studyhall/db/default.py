"""The process's default `Database`: built once from the configuration, shared by every thread.

`@with_db_session`, `submit_with_session` and `DatabaseManager` all use this one. It knows
no model: creating tables and loading data are `DatabaseManager`'s, a layer above.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

from studyhall.config import DatabaseSettings, load_settings
from studyhall.db.backends import ensure_database
from studyhall.db.engine import Database
from studyhall.db.error_translation import connect_error
from studyhall.db.schema import names_missing_database
from studyhall.errors import ConfigurationError, DatabaseUnavailableError, StudyhallError
from studyhall.log import get_logger

log = get_logger(__name__)

# Logged by initialize() when the database cannot be used yet; the app starts anyway.
UNUSABLE_YET = "The database cannot be used yet (its first use will fail the same way): %s"

_lock = threading.Lock()
_database: Database | None = None


def initialize(
    settings: DatabaseSettings | None = None,
    *,
    resolve: Callable[[], DatabaseSettings] = load_settings,
) -> Database:
    """Build the default Database once; later calls return the same one. Thread-safe.

    Without `settings`, `resolve()` gives them (once, under the lock). The
    database is created when missing. A server that cannot be reached yet is logged as a
    warning, not raised: an app may start before its database, and the first use then
    says what is wrong. Settings that differ from those in use are an error.
    """
    global _database
    database = _database
    if database is None:
        with _lock:
            if _database is None:
                resolved = settings or resolve()
                _database = _open(resolved)
                log.info("Database engine ready: %s", resolved.masked_url)
            database = _database
    if settings is not None and settings != database.settings:
        raise ConfigurationError(
            f"The database is already initialized with {database.settings.masked_url}; "
            f"it cannot switch to {settings.masked_url} while in use. Call "
            "DatabaseManager.cleanup() first."
        )
    return database


def current() -> Database | None:
    """The default Database if it is built, else None (nothing is initialized)."""
    return _database


def database() -> Database:
    """The default Database, initializing it from the environment on first use."""
    return _database or initialize()


def ensure_exists(settings: DatabaseSettings) -> bool:
    """Create the database of `settings` if it is missing; True when it was created.

    On SQLite: the file's folder and an empty file.
    """
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


def dispose() -> None:
    """Dispose of the default Database's pool; the next use builds a new one."""
    global _database
    with _lock:
        database, _database = _database, None
    if database is not None:
        database.dispose()


@contextmanager
def using(database: Database) -> Iterator[Database]:
    """Make `database` the default for the duration of the block (tests, scripts).

    The previous default (built or not) is restored afterwards and is not disposed.
    """
    global _database
    with _lock:
        previous, _database = _database, database
    try:
        yield database
    finally:
        with _lock:
            _database = previous


def _describe(exc: BaseException, settings: DatabaseSettings) -> str:
    """One line on why connecting failed, without any password."""
    if isinstance(exc, StudyhallError):
        return str(exc)
    return str(connect_error(settings, exc))


def _open(settings: DatabaseSettings) -> Database:
    """Make sure the database exists, then build its engine. Called under the lock."""
    if settings.backend == "sqlite":
        # Local and cheap: make the folder and the file, then the engine.
        try:
            ensure_exists(settings)
        except DatabaseUnavailableError as exc:
            log.warning(UNUSABLE_YET, exc)
        return Database(settings)
    database = Database(settings)
    try:
        # One connection to the database itself: it says whether the database exists
        # (and needs no rights on the server's other databases when it does), and then
        # waits in the pool for the first unit of work.
        with database.engine.connect():
            pass
    except (StudyhallError, DBAPIError) as exc:
        if not names_missing_database(exc):
            log.warning(UNUSABLE_YET, _describe(exc, settings))
            return database
        try:
            ensure_exists(settings)
        except BaseException:
            database.dispose()
            raise
    return database


__all__ = ["current", "database", "dispose", "ensure_exists", "initialize", "using"]
