"""Driver errors translated, in one place, into studyhall errors that say what to do.

An engine `handle_error` listener classifies each DB-API error by its MySQL error code,
PostgreSQL SQLSTATE or SQLite result code, and turns the error SQLAlchemy is about to
raise into one that is both the studyhall class (`ConflictError`, `LoginRefusedError`,
...) and the SQLAlchemy class it was (`OperationalError`, ...), with a message that says
what happened and what to do. It stays the same object, with its `.orig`, `.statement`,
`.params` (hidden) and `.connection_invalidated`, so `except OperationalError`, other
`handle_error` listeners, the pool's invalidation and the retry check
(`retry.is_retryable`) work exactly as on a stock engine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import DataError, DBAPIError, NotSupportedError, ProgrammingError

from studyhall.config import DatabaseSettings, server_address
from studyhall.errors import (
    ConflictError,
    DatabasePermissionError,
    DatabaseStatementError,
    DatabaseUnavailableError,
    LoginRefusedError,
    ReadOnlyTransactionError,
    StudyhallError,
)

# Each condition studyhall tells apart, and the class raised for it.
CONDITIONS: dict[str, type[StudyhallError]] = {
    "login": LoginRefusedError,
    "missing_role": LoginRefusedError,
    "permission": DatabasePermissionError,
    "readonly": DatabasePermissionError,
    "unknown_database": DatabaseUnavailableError,
    "unreachable": DatabaseUnavailableError,
    "no_primary": DatabaseUnavailableError,
    "timeout": DatabaseUnavailableError,
    "statement_timeout": DatabaseUnavailableError,
    "lost": DatabaseUnavailableError,
    "overloaded": DatabaseUnavailableError,
    "sqlite_open": DatabaseUnavailableError,
    "sqlite_file": DatabaseUnavailableError,
    "deadlock": ConflictError,
    "lock_wait": ConflictError,
    "serialization": ConflictError,
    "busy": ConflictError,
    "too_many_parameters": DatabaseStatementError,
    "statement": DatabaseStatementError,
    "read_only_server": ReadOnlyTransactionError,
}

# MySQL / MariaDB error codes (the first argument of PyMySQL's errors).
MYSQL_CODES: dict[int, str] = {
    1045: "login",  # ER_ACCESS_DENIED_ERROR: wrong user or password
    1698: "login",  # ER_ACCESS_DENIED_NO_PASSWORD_ERROR
    1044: "permission",  # ER_DBACCESS_DENIED_ERROR: no rights on the database
    1142: "permission",  # ER_TABLEACCESS_DENIED_ERROR
    1143: "permission",  # ER_COLUMNACCESS_DENIED_ERROR
    1227: "permission",  # ER_SPECIFIC_ACCESS_DENIED_ERROR (needs SUPER, ...)
    1370: "permission",  # ER_PROCACCESS_DENIED_ERROR
    1049: "unknown_database",  # ER_BAD_DB_ERROR
    2002: "unreachable",  # CR_CONNECTION_ERROR (socket)
    2003: "unreachable",  # CR_CONN_HOST_ERROR (refused or timed out: see the text)
    2005: "unreachable",  # CR_UNKNOWN_HOST
    2006: "lost",  # CR_SERVER_GONE_ERROR
    2013: "lost",  # CR_SERVER_LOST (PyMySQL also for a read timeout: see the text)
    2055: "lost",  # CR_SERVER_LOST_EXTENDED
    1053: "lost",  # ER_SERVER_SHUTDOWN
    1927: "lost",  # ER_CONNECTION_KILLED (MariaDB)
    4031: "lost",  # ER_CLIENT_INTERACTION_TIMEOUT (MySQL 8)
    1040: "overloaded",  # ER_CON_COUNT_ERROR: too many connections
    1203: "overloaded",  # ER_TOO_MANY_USER_CONNECTIONS
    1969: "statement_timeout",  # ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
    3024: "statement_timeout",  # ER_QUERY_TIMEOUT (MySQL max_execution_time)
    1205: "lock_wait",  # ER_LOCK_WAIT_TIMEOUT
    1213: "deadlock",  # ER_LOCK_DEADLOCK
    3572: "lock_wait",  # ER_LOCK_NOWAIT
    1390: "too_many_parameters",  # ER_PS_MANY_PARAM
    # ER_OPTION_PREVENTS_STATEMENT: read_only=ON (a replica) when the text says so (see
    # classify); the same code also names other options (--secure-file-priv, ...).
    1290: "read_only_server",
}

# PostgreSQL SQLSTATEs; a class ("08") stands for every code in it.
POSTGRES_STATES: dict[str, str] = {
    "28P01": "login",  # invalid_password
    "28000": "login",  # invalid_authorization_specification (also: no such role)
    "42501": "permission",  # insufficient_privilege
    "3D000": "unknown_database",  # invalid_catalog_name
    "08": "lost",  # connection_exception
    "57P01": "lost",  # admin_shutdown
    "57P02": "lost",  # crash_shutdown
    "57P03": "overloaded",  # cannot_connect_now (starting up, recovering)
    "53300": "overloaded",  # too_many_connections
    "57014": "statement_timeout",  # query_canceled (statement_timeout, cancel)
    "40001": "serialization",  # serialization_failure
    "40P01": "deadlock",  # deadlock_detected
    "55P03": "lock_wait",  # lock_not_available (NOWAIT, lock_timeout)
    "25006": "read_only_server",  # read_only_sql_transaction (a standby, or read only)
}

# psycopg reports a failed connection, and its own client-side limits, without a
# SQLSTATE: only the text says what happened. (fragment, condition), first match wins.
POSTGRES_TEXTS: tuple[tuple[str, str], ...] = (
    ("password authentication failed", "login"),
    ("no pg_hba.conf entry", "login"),
    ('role "', "missing_role"),  # FATAL: role "x" does not exist
    ("permission denied for database", "permission"),
    ('database "', "unknown_database"),  # FATAL: database "x" does not exist
    # target_session_attrs=read-write (primary) and every host that answered is a standby:
    # a failover not finished yet, or no standby promoted.
    ("session is read-only", "no_primary"),
    ("server is in hot standby mode", "no_primary"),
    ("timeout expired", "timeout"),
    ("timed out", "timeout"),
    ("too many clients", "overloaded"),
    ("the database system is", "overloaded"),  # starting up / shutting down
    ("number of parameters must be between", "too_many_parameters"),
    ("connection refused", "unreachable"),
    ("could not translate host name", "unreachable"),
    ("name or service not known", "unreachable"),
    ("no route to host", "unreachable"),
    ("server closed the connection", "lost"),
    ("terminating connection", "lost"),
    ("the connection is closed", "lost"),
    ("connection is lost", "lost"),
    ("consuming input failed", "lost"),
)

# SQLite result codes (the exception's `sqlite_errorname`, Python 3.11+), by prefix.
SQLITE_CODES: tuple[tuple[str, str], ...] = (
    ("SQLITE_BUSY", "busy"),
    ("SQLITE_LOCKED", "busy"),
    ("SQLITE_CANTOPEN", "sqlite_open"),
    ("SQLITE_READONLY", "readonly"),
    ("SQLITE_PERM", "readonly"),
    ("SQLITE_AUTH", "permission"),
    ("SQLITE_NOTADB", "sqlite_file"),
    ("SQLITE_CORRUPT", "sqlite_file"),
    ("SQLITE_FULL", "sqlite_file"),
    ("SQLITE_IOERR", "sqlite_file"),
    ("SQLITE_TOOBIG", "too_many_parameters"),
    ("SQLITE_RANGE", "statement"),
)
SQLITE_TEXTS: tuple[tuple[str, str], ...] = (
    ("database is locked", "busy"),
    ("database table is locked", "busy"),
    ("unable to open database file", "sqlite_open"),
    ("readonly database", "readonly"),
    ("too many sql variables", "too_many_parameters"),
    ("file is not a database", "sqlite_file"),
)

# Set on an error raised while a connection was being opened: nothing of a unit of work
# was sent on it (see `failed_to_connect`).
CONNECTING = "studyhall_connecting"

_classes: dict[tuple[type[StudyhallError], type[DBAPIError]], type[DBAPIError]] = {}
_classes_lock = threading.Lock()


def classify(orig: BaseException | None) -> str | None:
    """The condition (a key of CONDITIONS) a driver's exception reports, or None."""
    if orig is None:
        return None
    module = type(orig).__module__
    text = str(orig).lower()
    if module.startswith("sqlite3"):
        name = str(getattr(orig, "sqlite_errorname", "") or "")
        for prefix, condition in SQLITE_CODES:
            if name.startswith(prefix):
                return condition
        found = _first_match(text, SQLITE_TEXTS)
        return found or ("statement" if name == "SQLITE_ERROR" else None)
    if module.startswith("psycopg"):
        state = getattr(orig, "sqlstate", None)
        if isinstance(state, str) and state:
            by_state = POSTGRES_STATES.get(state) or POSTGRES_STATES.get(state[:2])
            if by_state == "login" and 'role "' in text:
                return "missing_role"
            return by_state
        return _first_match(text, POSTGRES_TEXTS)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL (and mysqlclient) put the code first
        by_code = MYSQL_CODES.get(args[0])
        if by_code == "read_only_server" and "read-only" not in text:
            return "statement"
        if by_code in ("unreachable", "lost") and "timed out" in text:
            return "timeout"
        return by_code
    return None


def is_conflict(exc: BaseException) -> bool:
    """Whether `exc` is a deadlock, lock wait timeout, serialization failure or busy file."""
    if isinstance(exc, ConflictError):
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    condition = classify(orig)
    return condition is not None and CONDITIONS[condition] is ConflictError


def failed_to_connect(exc: BaseException) -> bool:
    """Whether `exc` came from opening a connection (before anything was sent on it), as
    an engine with `install_error_translation` saw it."""
    return isinstance(exc, DBAPIError) and bool(exc.__dict__.get(CONNECTING))


def translate_error(
    error: DBAPIError,
    settings: DatabaseSettings,
    *,
    url: URL | None = None,
    connecting: bool = False,
) -> DBAPIError | None:
    """Turn `error` in place into the studyhall error for it; None when none fits.

    The same object comes back, now also an instance of a studyhall class and carrying
    a message that says what happened and what to do. Changing the class in place (not
    raising a new error) keeps what SQLAlchemy promises of the error it raises: it is the
    `ExceptionContext.sqlalchemy_exception` that `handle_error` listeners saw, and the
    `connection_invalidated` they set. `url` is where the engine connects (default: the
    settings' URL); `connecting` says the error came while opening a connection (the
    error keeps that: `failed_to_connect`).
    """
    if connecting:
        error.__dict__[CONNECTING] = True
    if isinstance(error, StudyhallError):
        return error
    condition = classify(error.orig)
    if condition is None:
        if error.connection_invalidated:
            condition = "lost"
        elif isinstance(error, (ProgrammingError, DataError, NotSupportedError)):
            condition = "statement"
        else:
            return None
    reason = _reason(error.orig, settings)
    message = describe(condition, reason, url or settings.url, connecting=connecting)
    # A subclass of the error's own class with no slots of its own: the layouts match.
    error.__class__ = translated_class(CONDITIONS[condition], type(error))
    error.args = (message,)
    return error


def connect_error(settings: DatabaseSettings, error: BaseException) -> StudyhallError:
    """The studyhall error for a failure to connect (or to create the database).

    For callers that catch a driver error outside an engine of ours (an engine with the
    listener has translated it already: it is returned as it is).
    """
    if isinstance(error, StudyhallError):
        return error
    if isinstance(error, DBAPIError):
        translated = translate_error(error, settings, connecting=True)
        if isinstance(translated, StudyhallError):
            return translated
    orig = error.orig if isinstance(error, DBAPIError) else error
    reason = _reason(orig, settings)
    url = settings.url
    if settings.backend == "sqlite":
        return DatabaseUnavailableError(
            f"Cannot open the SQLite database {url.database}: {reason}. Check the path in "
            "DATABASE_URL and the permissions of the file and its folder."
        )
    return DatabaseUnavailableError(
        f"Cannot connect to the {settings.backend} server at {server_address(url)} as "
        f"{url.username}: {reason}. Check the server and the DB_* settings "
        "(`studyhall-db check` shows them)."
    )


def translated_class(ours: type[StudyhallError], theirs: type[DBAPIError]) -> type[DBAPIError]:
    """The class that is both `ours` and `theirs`, made once per pair."""
    key = (ours, theirs)
    cls = _classes.get(key)
    if cls is None:
        with _classes_lock:
            cls = _classes.get(key)
            if cls is None:
                cls = type(  # a DBAPIError subclass: `theirs` is one of its bases
                    ours.__name__,
                    (ours, theirs),
                    {
                        "__module__": __name__,
                        "__qualname__": f"{ours.__name__}[{theirs.__name__}]",
                        "__doc__": ours.__doc__,
                        "__reduce__": _reduce,
                    },
                )
                _classes[key] = cls
    return cls


def _reduce(self: DBAPIError) -> tuple[Any, ...]:
    # The class is made at run time, so it is rebuilt from its two bases when unpickled
    # (multiprocessing sends exceptions between processes by pickling them).
    ours, theirs = type(self).__bases__
    return (
        _rebuild,
        (
            ours,
            theirs,
            self.args[0],
            self.statement,
            self.params,
            self.orig,
            self.hide_parameters,
            self.connection_invalidated,
            self.__dict__.get("code"),
            self.ismulti,
        ),
        {"detail": self.detail, CONNECTING: self.__dict__.get(CONNECTING, False)},
    )


def _rebuild(
    ours: type[StudyhallError],
    theirs: type[DBAPIError],
    message: str,
    statement: str | None,
    params: Any,
    orig: BaseException,
    hide_parameters: bool,
    connection_invalidated: bool,
    code: str | None,
    ismulti: bool | None,
) -> DBAPIError:
    error = translated_class(ours, theirs)(
        statement, params, orig, hide_parameters, connection_invalidated, code, ismulti
    )
    error.args = (message,)
    return error


def install_error_translation(engine: Engine, settings: DatabaseSettings) -> None:
    """Translate the driver errors of `engine` (see the module docstring)."""

    @event.listens_for(engine, "handle_error")
    def _translate(context: ExceptionContext) -> None:
        # A failed pre-ping is the pool's business: it reconnects when the error says the
        # connection is gone, and must see the error it expects to decide that.
        if context.is_pre_ping:
            return
        error = context.sqlalchemy_exception
        if isinstance(error, DBAPIError):
            translate_error(
                error,
                settings,
                url=context.engine.url if context.engine is not None else None,
                connecting=context.connection is None,
            )


def describe(condition: str, reason: str, url: URL, *, connecting: bool = False) -> str:
    """What happened and what to do, for `condition` at `url` (never with a password)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _describe_sqlite(condition, reason, url.database or ":memory:")
    server = f"the {backend} server at {server_address(url)}"
    user = url.username or "(no user)"
    database = url.database or "(none)"
    retry = (
        "Nothing of this unit of work was committed: run it again "
        "(`@with_db_session(retries=N)` does so automatically)."
    )
    texts = {
        "login": f"{_cap(server)} refused the login of user {user}: {reason}. Check DB_USER "
        "and DB_PASSWORD (or the user and password in DATABASE_URL).",
        "missing_role": f"{_cap(server)} has no user (role) {user}: {reason}. Create it "
        f"(CREATE ROLE {user} LOGIN PASSWORD '...') or set DB_USER (or the user in "
        "DATABASE_URL) to an existing one.",
        "unknown_database": f"The database {database} does not exist on {server}: {reason}. "
        "Create it: `studyhall-db init` does (or DatabaseManager.ensure_database_exists()).",
        "unreachable": f"Cannot connect to {server} as {user}: {reason}. Nothing accepts "
        "connections there: check that the server is running and that DB_HOST and DB_PORT "
        "(or the host and port in DATABASE_URL) are right.",
        "no_primary": f"No {backend} server at {server_address(url)} accepts writes now "
        f"(the URL asks for a read-write one, target_session_attrs): {reason}. Each that "
        "answered is a standby: a failover may be under way, or the primary is down and no "
        "standby was promoted. Nothing of this unit of work was sent; "
        "`@with_db_session(retries=N)` runs it again with a growing pause. If it lasts, "
        "promote a standby (pg_ctl promote) or check the "
        "hosts in DATABASE_URL.",
        "overloaded": f"{_cap(server)} cannot take a connection now: {reason}. Try again "
        "later; if it lasts, raise the server's connection limit or lower DB_POOL_SIZE.",
        "lost": f"The connection to {server} was lost: {reason}. The server stopped, "
        "restarted or closed the connection; nothing of the current transaction was "
        "committed. Try again once the server answers.",
        "statement_timeout": f"A statement ran longer than the time limit of {server}: "
        f"{reason}. The transaction was rolled back; try again later, or make the "
        "statement cheaper.",
        "deadlock": f"A deadlock with another transaction on {server}: {reason}. The server "
        f"rolled this transaction back. {retry}",
        "lock_wait": f"Waited too long for a lock that another transaction holds on "
        f"{server}: {reason}. {retry} Keep transactions that lock the same rows short.",
        "serialization": f"A concurrent transaction changed data this one depends on "
        f"({server}): {reason}. {retry}",
        "too_many_parameters": f"The statement has more bound parameters than {backend} "
        f"allows (PostgreSQL: 65535): {reason}. Split it, e.g. pass a long IN list in "
        "batches.",
        "statement": f"{_cap(server)} rejected the statement: {reason}. Fix the statement "
        "or the values given to it.",
        "read_only_server": f"{_cap(server)} is read-only (a read replica, or a server in "
        f"read-only mode) and refused to write: {reason}. Nothing of this unit of work was "
        "written. A unit of work opened with read_only=True runs on a read replica: open "
        "the unit that writes without read_only=True, so that it runs on the primary.",
    }
    if condition == "timeout":
        if connecting:
            return (
                f"Cannot connect to {server} as {user}: {reason}. The server did not answer "
                "in time: check DB_HOST and DB_PORT, and that the server is not overloaded "
                "(DB_CONNECT_TIMEOUT sets the limit)."
            )
        return (
            f"{_cap(server)} did not answer in time: {reason}. It may be hung or overloaded; "
            "nothing of the current transaction was committed. Try again later "
            "(DB_READ_TIMEOUT and DB_WRITE_TIMEOUT set the limit)."
        )
    if condition == "permission":
        if connecting:
            return (
                f"The user {user} may not use the database {database} on {server}: "
                f"{reason}. Grant the rights (MySQL: GRANT ALL ON `{database}`.* TO "
                f"'{user}'@'%'; PostgreSQL: GRANT CONNECT ON DATABASE {database} TO {user}), "
                "or use a user that has them. (MySQL also says this when the database does "
                "not exist and the user may not create it.)"
            )
        return (
            f"The user {user} lacks a privilege this statement needs on {server}: {reason}. "
            "Grant it, or run the statement as a user that has it."
        )
    return texts.get(condition, f"{_cap(server)} failed: {reason}.")


def _describe_sqlite(condition: str, reason: str, database: str) -> str:
    path = Path(database).absolute() if database != ":memory:" else None
    where = f"the SQLite database {path or database}"
    retry = "Nothing of this unit of work was committed: run it again"
    if condition == "busy":
        return (
            f"{_cap(where)} is locked by another connection: {reason}. It stayed busy for "
            f"longer than the busy timeout. {retry} (`@with_db_session(retries=N)` does so "
            "automatically), and keep write transactions short."
        )
    if condition == "sqlite_open":
        return f"Cannot open {where}: {reason}. {_open_advice(path)}"
    if condition == "readonly":
        folder = path.parent if path else "its folder"
        return (
            f"{_cap(where)} cannot be written: {reason}. Check that this user may write the "
            f"file and its folder {folder} (SQLite writes -wal and -shm files next to it)."
        )
    if condition == "sqlite_file":
        return (
            f"{_cap(where)} cannot be used: {reason}. Check that the path names a SQLite "
            "database file and that its disk is not full."
        )
    if condition == "too_many_parameters":
        return (
            f"The statement has more bound parameters than SQLite allows: {reason}. Split "
            "it, e.g. pass a long IN list in batches."
        )
    if condition == "statement":
        return f"SQLite rejected the statement: {reason}. Fix the statement or its values."
    if condition == "lost":
        return f"The connection to {where} was closed: {reason}. Open a new unit of work."
    return f"{_cap(where)} failed: {reason}."


def _open_advice(path: Path | None) -> str:
    """Why SQLite could not open `path`, as far as the file system tells."""
    if path is None:
        return "Check the path in DATABASE_URL."
    folder = path.parent
    if path.is_dir():
        return f"{path} is a folder: point DATABASE_URL at a file inside it."
    if not folder.exists():
        advice = (
            f"Its folder {folder} does not exist: create it (`studyhall-db init` does), or "
            "point DATABASE_URL at a file in an existing folder."
        )
        ancestor = next((p for p in folder.parents if p.exists()), None)
        if ancestor is not None and not ancestor.is_dir():
            advice += f" ({ancestor} is a file, not a folder.)"
        elif ancestor is not None and not os.access(ancestor, os.W_OK):
            advice += f" ({ancestor} is not writable for this user, so it cannot be made.)"
        return advice
    if not folder.is_dir():
        return f"{folder} is a file, not a folder: point DATABASE_URL at a path in a folder."
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"The folder {folder} is not writable for this user: the file cannot be made."
    if path.exists() and not os.access(path, os.R_OK):
        return f"This user may not read {path}: check the file's permissions."
    return (
        f"Check that this user may read and write {path} and create files in {folder} "
        "(SQLite writes -wal and -shm files next to it)."
    )


def _reason(orig: BaseException | None, settings: DatabaseSettings) -> str:
    """The driver's one-line account of the error, with every secret masked."""
    lines = str(orig).strip().splitlines() if orig is not None else []
    # Named as SQLAlchemy names it, "(module.Class) text": what a search finds.
    kind = type(orig)
    reason = f"({kind.__module__}.{kind.__name__}) {lines[0].strip() if lines else ''}".strip()
    for secret in settings.secrets:
        reason = reason.replace(secret, "***")
    return reason.rstrip(".")


def _first_match(text: str, table: tuple[tuple[str, str], ...]) -> str | None:
    return next((condition for fragment, condition in table if fragment in text), None)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


__all__ = [
    "CONDITIONS",
    "CONNECTING",
    "MYSQL_CODES",
    "POSTGRES_STATES",
    "POSTGRES_TEXTS",
    "SQLITE_CODES",
    "SQLITE_TEXTS",
    "classify",
    "connect_error",
    "describe",
    "failed_to_connect",
    "install_error_translation",
    "is_conflict",
    "translate_error",
    "translated_class",
]
