from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from sqlalchemy.engine import make_url

from studyhall import config
from studyhall.config import DatabaseSettings, load_settings, read_environment
from studyhall.errors import ConfigurationError

FULL = {"DB_USER": "app", "DB_PASSWORD": "secret", "DB_HOST": "db.local", "DB_NAME": "studyhall"}


def test_database_url_wins_over_parts():
    settings = load_settings({**FULL, "DATABASE_URL": "postgresql://u:p@h/other"})
    assert settings.source == "DATABASE_URL"
    assert settings.url.drivername == "postgresql+psycopg"
    assert settings.database == "other"


def test_parts_build_a_mysql_url_by_default():
    settings = load_settings(FULL)
    assert settings.source == "DB_*"
    assert settings.url.drivername == "mysql+pymysql"
    assert (settings.url.host, settings.url.port, settings.database) == (
        "db.local",
        3306,
        "studyhall",
    )


@pytest.mark.parametrize(
    ("dialect", "driver", "port"),
    [
        ("mysql", "mysql+pymysql", 3306),
        ("mariadb", "mariadb+pymysql", 3306),
        ("postgresql", "postgresql+psycopg", 5432),
        ("POSTGRESQL", "postgresql+psycopg", 5432),
    ],
)
def test_dialects(dialect, driver, port):
    settings = load_settings({**FULL, "DB_DIALECT": dialect})
    assert (settings.url.drivername, settings.url.port) == (driver, port)


def test_embedded_default_is_announced_once(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(config, "_announced_embedded", False)
    with caplog.at_level(logging.INFO, logger="studyhall"):
        first = load_settings({}, base_dir=tmp_path)
        load_settings({}, base_dir=tmp_path)
    assert first.source == "embedded"
    assert first.database == str(tmp_path / "instance" / "studyhall.sqlite3")
    messages = [r.getMessage() for r in caplog.records if "embedded SQLite" in r.getMessage()]
    assert len(messages) == 1 and str(tmp_path) in messages[0]
    assert all(r.levelno == logging.INFO for r in caplog.records if "embedded" in r.getMessage())


def test_special_character_password_survives_the_url():
    password = "p@ss:w/rd%#?"
    settings = load_settings({**FULL, "DB_PASSWORD": password})
    assert settings.url.password == password
    rendered = settings.url.render_as_string(hide_password=False)
    assert make_url(rendered).password == password
    assert password not in repr(settings) and password not in str(settings)
    assert password not in settings.masked_url


def test_empty_password_is_valid():
    assert load_settings({**FULL, "DB_PASSWORD": ""}).url.password == ""


def test_partial_set_names_every_missing_variable():
    with pytest.raises(ConfigurationError) as info:
        load_settings({"DB_HOST": "db.local"})
    message = str(info.value)
    for name in ("DB_USER", "DB_PASSWORD", "DB_NAME"):
        assert name in message
    assert "DB_HOST" not in message.split("Missing database variables:")[1].split("(")[0]


def test_unset_password_is_missing():
    parts = {k: v for k, v in FULL.items() if k != "DB_PASSWORD"}
    with pytest.raises(ConfigurationError, match="DB_PASSWORD"):
        load_settings(parts)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"DB_NAME": "study`hall"}, "not a plain identifier"),
        ({"DB_NAME": "x'; DROP DATABASE test; --"}, "not a plain identifier"),
        ({"DB_NAME": 'we"ird'}, "not a plain identifier"),
        ({"DB_NAME": "two words"}, "not a plain identifier"),
        ({"DB_NAME": "a" * 65}, "not a plain identifier"),
        ({"DB_DIALECT": "oracle"}, "DB_DIALECT='oracle' is not supported"),
        ({"DB_PORT": "http"}, "DB_PORT='http' is not a port number"),
        ({"DB_PORT": "70000"}, "DB_PORT='70000' is not a port number"),
        ({"DB_POOL_SIZE": "many"}, "DB_POOL_SIZE='many' is not a whole number"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE='0' is out of range"),
        ({"DB_MAX_OVERFLOW": "-1"}, "DB_MAX_OVERFLOW='-1' is out of range"),
        ({"DB_POOL_TIMEOUT": "soon"}, "DB_POOL_TIMEOUT='soon' is not a number"),
        ({"DB_CONNECT_TIMEOUT": "0"}, "DB_CONNECT_TIMEOUT='0' is out of range"),
    ],
)
def test_bad_values_are_clear_errors(overrides, expected):
    with pytest.raises(ConfigurationError) as info:
        load_settings({**FULL, **overrides})
    assert expected in str(info.value)
    assert "secret" not in str(info.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigurationError) as info:
        load_settings({"DB_NAME": "bad name", "DB_PORT": "x", "DB_POOL_SIZE": "0"})
    message = str(info.value)
    assert "DB_USER" in message and "DB_PORT" in message and "DB_POOL_SIZE" in message
    assert "bad name" in message


def test_bad_database_url_never_echoes_the_password():
    with pytest.raises(ConfigurationError) as info:
        load_settings({"DATABASE_URL": "::not a url:hunter2@"})
    assert "hunter2" not in str(info.value)
    assert "DATABASE_URL is not a valid SQLAlchemy URL" in str(info.value)


def test_database_url_name_is_validated():
    with pytest.raises(ConfigurationError, match="not a plain identifier"):
        load_settings({"DATABASE_URL": "mysql://u:p@h/bad-name"})


def test_pool_settings_are_read():
    settings = load_settings(
        {
            **FULL,
            "DB_POOL_SIZE": "3",
            "DB_MAX_OVERFLOW": "0",
            "DB_POOL_TIMEOUT": "1.5",
            "DB_CONNECT_TIMEOUT": "2",
        }
    )
    assert (
        settings.pool_size,
        settings.max_overflow,
        settings.pool_timeout,
        settings.connect_timeout,
    ) == (3, 0, 1.5, 2)


def test_dotenv_never_overrides_the_environment(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "DB_USER=from_file\nDB_HOST=file.host\nDB_PASSWORD=f\nDB_NAME=filedb\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DB_USER", "from_env")
    env = read_environment()
    assert env["DB_USER"] == "from_env"
    assert env["DB_HOST"] == "file.host"
    settings = load_settings()
    assert settings.url.username == "from_env" and settings.database == "filedb"


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://u@h/db?password=S3cret&sslmode=require",
        "mysql://u@h/db?passwd=S3cret&charset=utf8mb4",
        "mariadb://u@h/db?password=S3cret",
    ],
)
def test_a_password_in_the_query_moves_into_the_masked_password_field(raw):
    # SQLAlchemy masks only the URL's password field: in the query string the password
    # would show in str(url), repr(engine) and every log line that prints them.
    settings = load_settings({"DATABASE_URL": raw})
    assert settings.url.password == "S3cret"
    assert not any("passw" in key for key in settings.url.query)
    for shown in (
        str(settings.url),
        repr(settings.url),
        settings.masked_url,
        repr(settings),
        str(settings),
    ):
        assert "S3cret" not in shown
    assert settings.secrets == ["S3cret"]
    if "sslmode" in raw:
        assert "sslmode=require" in settings.masked_url


def test_other_secrets_in_the_query_become_connect_arguments():
    settings = load_settings(
        {"DATABASE_URL": "postgresql://u:pw@h/db?sslpassword=K3yPass&application_name=x"}
    )
    assert dict(settings.connect_secrets) == {"sslpassword": "K3yPass"}
    assert dict(settings.url.query) == {"application_name": "x"}
    assert "K3yPass" not in repr(settings) and "K3yPass" not in str(settings.url)
    assert sorted(settings.secrets) == ["K3yPass", "pw"]


def test_settings_built_directly_are_cleaned_too():
    settings = DatabaseSettings(url=make_url("postgresql+psycopg://u@h/db?password=S3cret"))
    assert settings.url.password == "S3cret" and "S3cret" not in str(settings.url)
    assert replace(settings, pool_size=2).url == settings.url


def test_a_password_given_twice_is_refused_without_echo():
    with pytest.raises(ConfigurationError) as info:
        load_settings({"DATABASE_URL": "postgresql://u:One1@h/db?password=Two2"})
    assert "twice" in str(info.value)
    assert "One1" not in str(info.value) and "Two2" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://u:pw@h:abc/db", "not a valid SQLAlchemy URL"),
        ("oracle://u:pw@h/db", "backend 'oracle', which studyhall does not support"),
    ],
)
def test_bad_database_urls_are_configuration_errors(url, expected):
    with pytest.raises(ConfigurationError, match=expected) as info:
        load_settings({"DATABASE_URL": url})
    assert "pw" not in str(info.value).replace("password", "")


@pytest.mark.parametrize(
    ("value", "minutes"), [(None, 120), ("", 120), (" 30 ", 30), ("1", 1), ("10080", 10080)]
)
def test_the_session_idle_limit_is_read_in_minutes(value, minutes):
    environ = {} if value is None else {"STUDYHALL_SESSION_IDLE_MINUTES": value}
    assert config.session_idle_limit(environ).total_seconds() == minutes * 60


@pytest.mark.parametrize("value", ["0", "10081", "-5", "1.5", "2h", "²"])
def test_a_session_idle_limit_that_is_not_minutes_is_refused(value):
    with pytest.raises(ConfigurationError, match="is not a number of minutes from 1 to 10080"):
        config.session_idle_limit({"STUDYHALL_SESSION_IDLE_MINUTES": value})
