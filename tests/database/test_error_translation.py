"""Driver errors become studyhall errors that say what happened, and stay SQLAlchemy's.

Each error here is real: produced by the server (or SQLite) itself. A translated error
must be both the studyhall class and the SQLAlchemy class it replaces, keep `.orig`,
`.statement` and `.connection_invalidated`, and never say "cannot be reached" for
anything but an outage.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pymysql
import pytest
from sqlalchemy import create_engine, event, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.engine import Database
from studyhall.db.error_translation import (
    CONDITIONS,
    classify,
    install_error_translation,
    translate_error,
)
from studyhall.db.retry import is_retryable
from studyhall.errors import (
    AccessDeniedError,
    ConflictError,
    DatabasePermissionError,
    DatabaseStatementError,
    DatabaseUnavailableError,
    LoginRefusedError,
    ReadOnlyTransactionError,
    StudyhallError,
)
from tests.conftest import SERVER_URLS, require_backend, throwaway_settings
from tests.database.notes import add_note, create_notes, notes

SERVERS = ["mariadb", "postgresql"]


def _run(database: Database, sql: str, **params: object) -> None:
    with database.unit_of_work() as session:
        session.execute(text(sql), params)


@pytest.fixture
def notes_database(db_settings: DatabaseSettings) -> Iterator[Database]:
    database = Database(db_settings)
    create_notes(database.engine)
    with database.unit_of_work() as session:
        add_note(session, 1, "a")
        add_note(session, 2, "b")
    yield database
    database.dispose()


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_real_deadlock_is_a_conflict_and_still_an_operational_error(notes_database):
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def lock(first: int, second: int) -> None:
        try:
            with notes_database.unit_of_work() as session:
                session.execute(update(notes).where(notes.c.id == first).values(body="x"))
                barrier.wait(timeout=10)
                session.execute(update(notes).where(notes.c.id == second).values(body="y"))
        except Exception as exc:  # noqa: BLE001 - examined below
            errors.append(exc)

    threads = [threading.Thread(target=lock, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(errors) == 1, errors
    error = errors[0]
    assert isinstance(error, ConflictError) and isinstance(error, OperationalError)
    assert not isinstance(error, DatabaseUnavailableError)
    assert error.connection_invalidated is False
    assert "deadlock" in str(error).lower() and "run it again" in str(error)
    assert "[SQL: UPDATE notes" in str(error)  # the statement is kept
    assert classify(error.orig) == "deadlock"
    assert is_retryable(error)


def test_a_busy_sqlite_file_is_a_conflict(tmp_path):
    settings = throwaway_settings("sqlite", tmp_path)
    ensure_database(settings)
    database = Database(settings, connect_args={"timeout": 0.1, "check_same_thread": False})
    create_notes(database.engine)
    holder = sqlite3.connect(settings.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        with pytest.raises(ConflictError) as info:
            with database.unit_of_work() as session:
                add_note(session, 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        database.dispose()
    error = info.value
    assert isinstance(error, OperationalError)
    assert str(settings.database) in str(error) and "locked by another connection" in str(error)
    assert "DB_" not in str(error)
    assert is_retryable(error)
    # Pickled (as multiprocessing does) it comes back as both classes, message and all.
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error) and isinstance(again.orig, sqlite3.OperationalError)


@pytest.fixture
def mariadb_admin() -> Iterator[object]:
    require_backend("mariadb")
    engine = create_engine(SERVER_URLS["mariadb"], poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_admin() -> Iterator[object]:
    require_backend("postgresql")
    engine = create_engine(
        SERVER_URLS["postgresql"], poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    yield engine
    engine.dispose()


def _user_settings(settings: DatabaseSettings, user: str, password: str | None = None):
    return replace(settings, url=settings.url.set(username=user, password=password))


@pytest.fixture
def mariadb_user(mariadb_admin, tmp_path) -> Iterator[tuple[DatabaseSettings, str]]:
    """A throwaway MariaDB database and a user with a password and no rights at all."""
    settings = throwaway_settings("mariadb", tmp_path)
    ensure_database(settings)
    user, password = f"sh_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with mariadb_admin.connect() as conn:
        conn.execute(text("CREATE USER :u@'%' IDENTIFIED BY :p"), {"u": user, "p": password})
    yield _user_settings(settings, user, password), password
    with mariadb_admin.connect() as conn:
        conn.execute(text("DROP USER :u@'%'"), {"u": user})
    drop_database(settings)


@pytest.fixture
def postgres_role(postgres_admin, tmp_path) -> Iterator[DatabaseSettings]:
    """A throwaway PostgreSQL database and a login role that may not connect to it."""
    settings = throwaway_settings("postgresql", tmp_path)
    ensure_database(settings)
    role = f"sh_{uuid.uuid4().hex[:8]}"
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f'REVOKE CONNECT ON DATABASE "{settings.database}" FROM PUBLIC')
    yield _user_settings(settings, role)
    drop_database(settings)
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f"DROP ROLE {role}")


def test_a_wrong_password_is_a_refused_login(mariadb_user):
    settings, password = mariadb_user
    wrong = replace(settings, url=settings.url.set(password="wrong-" + password))
    database = Database(wrong)
    with pytest.raises(LoginRefusedError) as info:
        _run(database, "SELECT 1")
    database.dispose()
    error = info.value
    assert isinstance(error, OperationalError) and isinstance(error.orig, pymysql.Error)
    assert error.orig.args[0] == 1045
    assert "refused the login" in str(error) and "DB_PASSWORD" in str(error)
    assert password not in str(error)


def test_a_user_without_rights_on_the_database_is_not_a_refused_login_mariadb(mariadb_user):
    settings, password = mariadb_user  # the login is right; no GRANT on the database
    database = Database(settings)
    with pytest.raises(DatabasePermissionError) as info:
        _run(database, "SELECT 1")
    database.dispose()
    error = info.value
    assert not isinstance(error, LoginRefusedError) and isinstance(error, AccessDeniedError)
    assert isinstance(error, OperationalError) and error.orig.args[0] == 1044
    message = str(error)
    assert f"may not use the database {settings.database}" in message
    assert "GRANT ALL ON" in message and "refused the login" not in message
    assert password not in message


def test_a_statement_without_privilege_is_a_permission_error_mariadb(mariadb_user, mariadb_admin):
    settings, _ = mariadb_user
    root_url = make_url(SERVER_URLS["mariadb"]).set(database=settings.database)
    owner = Database(replace(settings, url=root_url))
    create_notes(owner.engine)
    owner.dispose()
    user = settings.url.username
    with mariadb_admin.connect() as conn:
        conn.execute(text(f"GRANT SELECT ON `{settings.database}`.* TO :u@'%'"), {"u": user})
    database = Database(settings)
    _run(database, "SELECT id FROM notes")  # reading is granted
    with pytest.raises(DatabasePermissionError) as info:
        with database.unit_of_work() as session:
            add_note(session, 1)
    database.dispose()
    assert isinstance(info.value, DBAPIError) and info.value.orig.args[0] == 1142
    assert "lacks a privilege this statement needs" in str(info.value)


def test_a_role_without_connect_is_a_permission_error_postgresql(postgres_role):
    database = Database(postgres_role)
    with pytest.raises(DatabasePermissionError) as info:
        _run(database, "SELECT 1")
    database.dispose()
    assert isinstance(info.value, OperationalError)
    assert not isinstance(info.value, LoginRefusedError)
    assert "permission denied for database" in str(info.value)
    assert "GRANT CONNECT ON DATABASE" in str(info.value)


def test_a_statement_without_privilege_is_a_permission_error_postgresql(
    postgres_role, postgres_admin
):
    role = postgres_role.url.username
    owner = Database(replace(postgres_role, url=postgres_role.url.set(username="postgres")))
    create_notes(owner.engine)
    owner.dispose()
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{postgres_role.database}" TO {role}')
    database = Database(postgres_role)
    with pytest.raises(DatabasePermissionError) as info:
        _run(database, "SELECT id FROM notes")
    database.dispose()
    assert isinstance(info.value, ProgrammingError)
    assert info.value.orig.sqlstate == "42501"


def test_a_missing_postgresql_role_is_a_refused_login_not_run_init(tmp_path):
    require_backend("postgresql")
    settings = throwaway_settings("postgresql", tmp_path)
    settings = _user_settings(settings, f"nobody_{uuid.uuid4().hex[:8]}")
    database = Database(settings)
    with pytest.raises(LoginRefusedError) as info:
        _run(database, "SELECT 1")
    database.dispose()
    message = str(info.value)
    assert isinstance(info.value, OperationalError)
    assert f"has no user (role) {settings.url.username}" in message
    assert "CREATE ROLE" in message and "init" not in message


@pytest.mark.parametrize("server", SERVERS)
def test_an_unknown_database_says_to_create_it(server, tmp_path):
    require_backend(server)
    settings = throwaway_settings(server, tmp_path)  # never created
    database = Database(settings)
    with pytest.raises(DatabaseUnavailableError) as info:
        _run(database, "SELECT 1")
    database.dispose()
    assert isinstance(info.value, OperationalError)
    assert f"The database {settings.database} does not exist" in str(info.value)
    assert "studyhall-db init" in str(info.value)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_too_many_parameters_is_a_statement_error_not_an_outage(notes_database, backend):
    # PostgreSQL's protocol takes at most 65535 parameters; SQLite as many as it was
    # built for (32766 by default, 250000 on Debian).
    if backend == "postgresql":
        count = 65_536
    else:
        probe = sqlite3.connect(":memory:")
        count = probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) + 1
        probe.close()
    with pytest.raises(DatabaseStatementError) as info:
        with notes_database.unit_of_work() as session:
            session.execute(select(notes.c.id).where(notes.c.id.in_(list(range(count)))))
    error = info.value
    assert isinstance(error, OperationalError)
    assert not isinstance(error, DatabaseUnavailableError)
    assert "more bound parameters than" in str(error) and "batches" in str(error)
    assert not is_retryable(error)


def test_a_sqlite_file_in_a_missing_read_only_folder_names_the_folder(tmp_path):
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    path = locked / "missing" / "studyhall.sqlite3"
    settings = DatabaseSettings(url=URL.create("sqlite+pysqlite", database=str(path)))
    database = Database(settings)
    try:
        with pytest.raises(DatabaseUnavailableError) as info:
            _run(database, "SELECT 1")
    finally:
        database.dispose()
        locked.chmod(0o755)
    message = str(info.value)
    assert isinstance(info.value, OperationalError)
    assert f"Its folder {path.parent} does not exist" in message
    assert str(path) in message
    assert "DB_" not in message and "server" not in message


def test_a_read_only_sqlite_file_is_a_permission_error(tmp_path):
    path = tmp_path / "studyhall.sqlite3"
    sqlite3.connect(path).close()
    url = URL.create("sqlite+pysqlite", database=f"file:{path}?mode=ro", query={"uri": "true"})
    database = Database(DatabaseSettings(url=url))
    create = "CREATE TABLE t (id INTEGER)"
    with pytest.raises(DatabasePermissionError) as info:
        _run(database, create)
    database.dispose()
    assert isinstance(info.value, OperationalError)
    assert "cannot be written" in str(info.value)


KILL = {
    "mariadb": ("SELECT CONNECTION_ID()", "KILL {}"),
    "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
}


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_a_connection_killed_mid_unit_is_unavailable_and_invalidated(
    notes_database, db_settings, backend
):
    whoami, kill = KILL[backend]
    with pytest.raises(DatabaseUnavailableError) as info:
        with notes_database.unit_of_work() as session:
            victim = session.execute(text(whoami)).scalar()
            killer = create_engine(db_settings.url, poolclass=NullPool)
            with killer.connect() as conn:
                conn.execute(text(kill.format(int(victim))))
                conn.commit()
            killer.dispose()
            session.execute(text("SELECT 1"))
    error = info.value
    assert isinstance(error, DBAPIError) and error.connection_invalidated
    assert "was lost" in str(error)
    assert is_retryable(error)
    with notes_database.unit_of_work() as session:  # the pool recovered
        assert session.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize("backend", SERVERS, indirect=True)
def test_pre_ping_errors_are_left_to_the_pool(db_settings, backend):
    # DB_PING_BYPASS_MS=0: every reuse is pinged, however recently it was returned.
    notes_database = Database(replace(db_settings, ping_bypass_ms=0))
    seen: list[tuple[bool, bool]] = []

    @event.listens_for(notes_database.engine, "handle_error")
    def _record(context):  # runs after ours
        seen.append(
            (context.is_pre_ping, isinstance(context.sqlalchemy_exception, StudyhallError))
        )

    whoami, kill = KILL[backend]
    with notes_database.unit_of_work() as session:
        victim = session.execute(text(whoami)).scalar()
    killer = create_engine(db_settings.url, poolclass=NullPool)
    with killer.connect() as conn:
        conn.execute(text(kill.format(int(victim))))
        conn.commit()
    killer.dispose()
    with notes_database.unit_of_work() as session:  # pre-ping finds it dead, reconnects
        assert session.execute(text(whoami)).scalar() != victim
    notes_database.dispose()
    assert seen and all(pre_ping and not translated for pre_ping, translated in seen)


def test_a_refused_connection_stays_a_dbapi_error():
    require_backend("mariadb")
    url = make_url(SERVER_URLS["mariadb"]).set(host="127.0.0.1", port=1, database="x")
    database = Database(DatabaseSettings(url=url, connect_timeout=2))
    with pytest.raises(OperationalError) as info:  # `except OperationalError` still works
        _run(database, "SELECT 1")
    database.dispose()
    assert isinstance(info.value, DatabaseUnavailableError)
    assert "check that the server is running" in str(info.value)


def test_the_raised_error_is_the_one_handlers_saw_with_their_disconnect_flag(tmp_path):
    # SQLAlchemy's contract (its HandleErrorTest): the raised error is the context's
    # sqlalchemy_exception, and a listener's `is_disconnect` becomes its
    # `connection_invalidated`.
    settings = throwaway_settings("sqlite", tmp_path)
    ensure_database(settings)
    database = Database(settings)
    contexts = []

    @event.listens_for(database.engine, "handle_error")
    def _upgrade(context):
        contexts.append(context)
        context.is_disconnect = True

    with pytest.raises(DatabaseStatementError) as info:
        _run(database, "SELEC 1")
    database.dispose()
    assert contexts[0].sqlalchemy_exception is info.value
    assert contexts[0].original_exception is info.value.orig
    assert info.value.connection_invalidated is True


def test_a_user_handler_sees_our_error_and_can_replace_it(tmp_path):
    settings = throwaway_settings("sqlite", tmp_path)
    ensure_database(settings)
    database = Database(settings)

    class Custom(Exception):
        pass

    @event.listens_for(database.engine, "handle_error")
    def _replace(context):
        assert isinstance(context.sqlalchemy_exception, DatabaseStatementError)
        return Custom("mine")

    with pytest.raises(Custom):
        _run(database, "SELEC 1")
    database.dispose()


def test_other_database_errors_are_left_alone(tmp_path):
    settings = throwaway_settings("sqlite", tmp_path)
    ensure_database(settings)
    database = Database(settings)
    create_notes(database.engine)
    with database.unit_of_work() as session:
        add_note(session, 1)
    with pytest.raises(DBAPIError) as info:  # a duplicate key: SQLAlchemy's error says it
        with database.unit_of_work() as session:
            add_note(session, 1)
    database.dispose()
    assert not isinstance(info.value, StudyhallError)


def _driver_error(module: str, cls: str, *args: object, **attrs: object) -> BaseException:
    """A driver exception as its driver raises it (for the classification table)."""
    if module == "pymysql":
        return getattr(pymysql.err, cls)(*args)
    if module == "sqlite3":
        error = getattr(sqlite3, cls)(*args)
        for name, value in attrs.items():
            setattr(error, name, value)
        return error
    import psycopg

    return getattr(psycopg, cls)(*args)


@pytest.mark.parametrize(
    ("module", "cls", "args", "attrs", "condition"),
    [
        ("pymysql", "OperationalError", (1045, "Access denied for user"), {}, "login"),
        ("pymysql", "OperationalError", (1044, "Access denied ... to database"), {}, "permission"),
        ("pymysql", "OperationalError", (1142, "INSERT command denied"), {}, "permission"),
        ("pymysql", "InternalError", (1227, "Access denied; you need SUPER"), {}, "permission"),
        ("pymysql", "InternalError", (1049, "Unknown database 'x'"), {}, "unknown_database"),
        ("pymysql", "OperationalError", (2003, "Can't connect ... (timed out)"), {}, "timeout"),
        ("pymysql", "OperationalError", (2003, "Can't connect ... refused"), {}, "unreachable"),
        ("pymysql", "OperationalError", (2006, "MySQL server has gone away"), {}, "lost"),
        ("pymysql", "OperationalError", (2013, "Lost connection (timed out)"), {}, "timeout"),
        ("pymysql", "OperationalError", (1205, "Lock wait timeout exceeded"), {}, "lock_wait"),
        ("pymysql", "OperationalError", (1213, "Deadlock found"), {}, "deadlock"),
        ("pymysql", "IntegrityError", (1062, "Duplicate entry"), {}, None),
        ("psycopg", "OperationalError", ('FATAL:  role "x" does not exist',), {}, "missing_role"),
        ("psycopg", "OperationalError", ("FATAL:  password authentication failed",), {}, "login"),
        (
            "psycopg",
            "OperationalError",
            ('FATAL:  permission denied for database "x"',),
            {},
            "permission",
        ),
        (
            "psycopg",
            "OperationalError",
            ('FATAL:  database "x" does not exist',),
            {},
            "unknown_database",
        ),
        ("psycopg", "OperationalError", ("connection timeout expired",), {}, "timeout"),
        ("psycopg", "OperationalError", ("... failed: Connection refused",), {}, "unreachable"),
        (  # psycopg's words when target_session_attrs=read-write finds only standbys
            "psycopg",
            "OperationalError",
            ('connection failed: ... "h", port 1 failed: session is read-only',),
            {},
            "no_primary",
        ),
        (  # ... and for target_session_attrs=primary
            "psycopg",
            "OperationalError",
            ("connection failed: ... failed: server is in hot standby mode",),
            {},
            "no_primary",
        ),
        (  # several hosts: one refused, one a standby
            "psycopg",
            "OperationalError",
            (
                "connection failed: ... port 2 failed: session is read-only\nMultiple "
                "connection attempts failed. All failures were:\n- host: 'h', port: '1': "
                "connection failed: ... port 1 failed: Connection refused",
            ),
            {},
            "no_primary",
        ),
        (
            "psycopg",
            "OperationalError",
            ("number of parameters must be between 0 and 65535",),
            {},
            "too_many_parameters",
        ),
        ("sqlite3", "OperationalError", ("database is locked",), {}, "busy"),
        (
            "sqlite3",
            "OperationalError",
            ("database is locked",),
            {"sqlite_errorname": "SQLITE_BUSY"},
            "busy",
        ),
        ("sqlite3", "OperationalError", ("unable to open database file",), {}, "sqlite_open"),
        ("sqlite3", "OperationalError", ("too many SQL variables",), {}, "too_many_parameters"),
        (
            "sqlite3",
            "OperationalError",
            ("no such table: x",),
            {"sqlite_errorname": "SQLITE_ERROR"},
            "statement",
        ),
        ("sqlite3", "IntegrityError", ("UNIQUE constraint failed",), {}, None),
        (
            "pymysql",
            "OperationalError",
            (1290, "The MariaDB server is running with the --read-only option so it cannot"),
            {},
            "read_only_server",
        ),
        (
            "pymysql",
            "OperationalError",
            (1290, "The MySQL server is running with the --secure-file-priv option"),
            {},
            "statement",
        ),
    ],
)
def test_classification_table(module, cls, args, attrs, condition):
    assert classify(_driver_error(module, cls, *args, **attrs)) == condition


def test_every_condition_maps_to_a_studyhall_class():
    assert set(CONDITIONS.values()) <= {
        ConflictError,
        DatabasePermissionError,
        DatabaseStatementError,
        DatabaseUnavailableError,
        LoginRefusedError,
        ReadOnlyTransactionError,  # a read-only server (a replica) refused a write
    }


def test_secrets_are_masked_in_translated_messages():
    settings = DatabaseSettings(url=make_url("mysql+pymysql://u:S3cretPw@h/db"))
    orig = pymysql.err.OperationalError(1045, "Access denied (password S3cretPw)")
    error = OperationalError("SELECT 1", {}, orig)
    translated = translate_error(error, settings, connecting=True)
    assert translated is error  # changed in place
    assert isinstance(translated, LoginRefusedError) and isinstance(translated, OperationalError)
    assert "S3cretPw" not in str(translated) and "***" in str(translated)
    assert translated.orig is orig and translated.statement == "SELECT 1"


def test_the_listener_is_installed_once_per_engine(tmp_path):
    settings = throwaway_settings("sqlite", tmp_path)
    database = Database(settings)
    install_error_translation(database.engine, settings)  # a second one changes nothing
    with pytest.raises(DatabaseStatementError) as info:
        _run(database, "SELEC 1")
    database.dispose()
    assert type(info.value).__bases__ == (DatabaseStatementError, OperationalError)
