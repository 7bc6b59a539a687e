"""A password never shows: not in logs, messages or reprs; special characters work."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from studyhall.config import load_settings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.db.engine import Database
from studyhall.errors import LoginRefusedError
from tests.conftest import SERVER_URLS, require_backend, throwaway_settings

SPECIAL = "p@ss:w/rd%#?"


@pytest.fixture
def mariadb_user(tmp_path):
    """A MariaDB user with a special-character password and its own database."""
    require_backend("mariadb")
    settings = throwaway_settings("mariadb", tmp_path)
    ensure_database(settings)
    user = f"sh_{uuid.uuid4().hex[:8]}"
    admin = create_engine(SERVER_URLS["mariadb"], poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text("CREATE USER :u@'%' IDENTIFIED BY :p"), {"u": user, "p": SPECIAL})
        conn.execute(text(f"GRANT ALL ON `{settings.database}`.* TO :u@'%'"), {"u": user})
    yield user, settings.database
    with admin.connect() as conn:
        conn.execute(text("DROP USER :u@'%'"), {"u": user})
    admin.dispose()
    drop_database(settings)


def _env(user, database, password):
    url = make_url(SERVER_URLS["mariadb"])
    return {
        "DB_DIALECT": "mariadb",
        "DB_USER": user,
        "DB_PASSWORD": password,
        "DB_HOST": url.host,
        "DB_PORT": str(url.port),
        "DB_NAME": database,
    }


def test_special_character_password_connects_for_real(mariadb_user):
    user, database = mariadb_user
    settings = load_settings(_env(user, database, SPECIAL))
    DatabaseManager.initialize(settings)
    with DatabaseManager.get_session() as session:
        assert session.execute(text("SELECT CURRENT_USER()")).scalar().startswith(user)


def test_wrong_password_is_clear_and_never_shown(mariadb_user, caplog):
    user, database = mariadb_user
    wrong = "Wr0ng-" + SPECIAL
    settings = load_settings(_env(user, database, wrong))
    with caplog.at_level(logging.DEBUG):
        database_ = Database(settings)
        with pytest.raises(LoginRefusedError) as info:
            with database_.unit_of_work() as session:
                session.execute(text("SELECT 1"))
        database_.dispose()
    message = str(info.value)
    assert "refused the login" in message and "DB_PASSWORD" in message
    for shown in (
        message,
        repr(info.value),
        str(info.value.__cause__),
        caplog.text,
        repr(settings),
        str(settings),
        repr(database_),
        repr(database_.engine),
    ):
        assert wrong not in shown and SPECIAL not in shown


def test_password_never_in_the_log_of_a_good_session(mariadb_user, caplog):
    user, database = mariadb_user
    with caplog.at_level(logging.DEBUG):
        DatabaseManager.initialize(load_settings(_env(user, database, SPECIAL)))
        with DatabaseManager.get_session() as session:
            session.execute(text("SELECT :secret"), {"secret": "bound-value-1234"})
    assert SPECIAL not in caplog.text
    assert "bound-value-1234" not in caplog.text


def _query_url(user, database, password):
    """A DATABASE_URL with the password in its query string, percent-encoded."""
    server = make_url(SERVER_URLS["mariadb"])
    return (
        f"mariadb+pymysql://{user}@{server.host}:{server.port}/{database}"
        f"?password={quote(password, safe='')}&charset=utf8mb4"
    )


def test_a_password_in_the_query_connects_and_never_shows(mariadb_user, caplog):
    user, database = mariadb_user
    settings = load_settings({"DATABASE_URL": _query_url(user, database, SPECIAL)})
    with caplog.at_level(logging.DEBUG):
        db = DatabaseManager.initialize(settings)
        with DatabaseManager.get_session() as session:
            assert session.execute(text("SELECT CURRENT_USER()")).scalar().startswith(user)
    shown = (
        repr(db.engine),
        str(db.engine.url),
        repr(db.engine.url),
        str(settings.url),
        settings.masked_url,
        repr(settings),
        repr(db),
        caplog.text,
    )
    for text_ in shown:
        assert SPECIAL not in text_ and quote(SPECIAL, safe="") not in text_, text_


def test_a_wrong_password_in_the_query_never_shows_in_the_error(mariadb_user, caplog):
    user, database = mariadb_user
    wrong = "Wr0ng-" + SPECIAL
    settings = load_settings({"DATABASE_URL": _query_url(user, database, wrong)})
    database_ = Database(settings)
    with caplog.at_level(logging.DEBUG), pytest.raises(LoginRefusedError) as info:
        with database_.unit_of_work() as session:
            session.execute(text("SELECT 1"))
    for shown in (str(info.value), repr(info.value), caplog.text, repr(database_.engine)):
        assert wrong not in shown and quote(wrong, safe="") not in shown
    database_.dispose()


def test_other_query_secrets_reach_the_driver_but_not_the_url(tmp_path):
    require_backend("postgresql")
    settings = throwaway_settings("postgresql", tmp_path)
    ensure_database(settings)
    raw = settings.url.render_as_string(hide_password=False)
    settings = load_settings({"DATABASE_URL": raw + "?sslpassword=K3yPass&sslmode=disable"})
    database_ = Database(settings)
    seen = {}

    @event.listens_for(database_.engine, "do_connect")
    def _spy(dialect, record, cargs, cparams):
        seen.update(cparams)

    try:
        with database_.unit_of_work() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
        assert seen.get("sslpassword") == "K3yPass"
        for shown in (repr(database_.engine), str(database_.engine.url), repr(settings)):
            assert "K3yPass" not in shown
    finally:
        database_.dispose()
        drop_database(settings)
