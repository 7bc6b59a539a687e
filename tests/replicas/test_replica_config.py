"""DATABASE_REPLICA_URLS / DB_REPLICA_HOSTS and the replica options: read, checked, masked."""

from __future__ import annotations

import pytest

from studyhall.config import load_settings
from studyhall.errors import ConfigurationError

MARIADB = "mysql+pymysql://app:pw-primary@db1:3307/studyhall"
POSTGRES = "postgresql+psycopg://app:pw-primary@db1:5442/studyhall"
PARTS = {"DB_USER": "app", "DB_PASSWORD": "pw-parts", "DB_HOST": "db1", "DB_NAME": "studyhall"}


def test_nothing_changes_without_replicas():
    assert load_settings({"DATABASE_URL": MARIADB}).replicas is None
    assert load_settings(PARTS).replicas is None


def test_replica_options_are_checked_even_without_replicas():
    assert load_settings({**PARTS, "DB_REPLICA_WAIT_MS": "100"}).replicas is None
    with pytest.raises(ConfigurationError, match="DB_REPLICA_WAIT_MS='soon' is not a whole"):
        load_settings({**PARTS, "DB_REPLICA_WAIT_MS": "soon"})


def test_replica_urls_are_read_with_the_primarys_driver_and_database():
    settings = load_settings(
        {
            "DATABASE_URL": MARIADB,
            "DATABASE_REPLICA_URLS": "mysql://app:pw-r1@db2:3308/studyhall, mysql://app:pw-r2@db3",
        }
    )
    assert settings.replicas is not None
    urls = settings.replicas.urls
    assert [(u.drivername, u.host, u.port, u.database) for u in urls] == [
        ("mysql+pymysql", "db2", 3308, "studyhall"),
        ("mysql+pymysql", "db3", None, "studyhall"),
    ]
    assert [str(u.password) for u in urls] == ["pw-r1", "pw-r2"]


def test_replica_hosts_take_the_primarys_credentials_and_database():
    settings = load_settings({**PARTS, "DB_REPLICA_HOSTS": "db2:3308, db3"})
    assert settings.replicas is not None
    assert [
        (u.host, u.port, u.username, str(u.password), u.database) for u in settings.replicas.urls
    ] == [
        ("db2", 3308, "app", "pw-parts", "studyhall"),
        ("db3", 3306, "app", "pw-parts", "studyhall"),
    ]


def test_replica_options_are_read_and_defaulted():
    settings = load_settings(
        {
            "DATABASE_URL": POSTGRES,
            "DB_REPLICA_HOSTS": "db2:5443",
            "DB_REPLICA_MAX_LAG_MS": "250",
            "DB_REPLICA_WAIT_MS": "0",
        }
    )
    replicas = settings.replicas
    assert replicas is not None
    assert (replicas.max_lag_ms, replicas.wait_ms) == (250, 0)
    assert replicas.probe_ms == 500 and replicas.connect_timeout == 2


def test_passwords_never_show():
    settings = load_settings(
        {
            "DATABASE_URL": MARIADB,
            "DATABASE_REPLICA_URLS": "mysql://app:pw-r1@db2:3308/studyhall,"
            "mysql://app@db3/studyhall?password=pw-r2",
        }
    )
    shown = repr(settings) + str(settings.replicas) + " ".join(settings.replicas.masked_urls)
    assert "db2:3308" in shown and "db3" in shown
    for secret in ("pw-primary", "pw-r1", "pw-r2"):
        assert secret not in shown


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DATABASE_REPLICA_URLS": "sqlite:///r.db"},
            "SQLite has no replicas",
        ),
        (
            {
                "DATABASE_URL": MARIADB,
                "DATABASE_REPLICA_URLS": "postgresql://app:pw@db2/studyhall",
            },
            "entry 1 of DATABASE_REPLICA_URLS is a postgresql server, but the primary is mysql",
        ),
        (
            {"DATABASE_URL": MARIADB, "DATABASE_REPLICA_URLS": "sqlite:///r.db"},
            "entry 1 of DATABASE_REPLICA_URLS is a sqlite server, but the primary is mysql",
        ),
        (
            {"DATABASE_URL": MARIADB, "DATABASE_REPLICA_URLS": "mysql://app:pw@db2/other"},
            "names the database 'other', but the primary's is 'studyhall'",
        ),
        (
            {
                "DATABASE_URL": MARIADB,
                "DATABASE_REPLICA_URLS": "mysql+mysqldb://app:pw@db2/studyhall",
            },
            "uses the driver 'mysqldb', but the primary uses 'pymysql'",
        ),
        (
            {"DATABASE_URL": MARIADB, "DATABASE_REPLICA_URLS": "not a url:pw-bad@"},
            "entry 1 of DATABASE_REPLICA_URLS is not a valid SQLAlchemy URL",
        ),
        (
            {"DATABASE_URL": MARIADB, "DATABASE_REPLICA_URLS": "mysql://a:pw@db2/studyhall,,"},
            "entry 2 of DATABASE_REPLICA_URLS is empty",
        ),
        (
            {"DATABASE_URL": MARIADB, "DB_REPLICA_HOSTS": "db1:3307"},
            "entry 1 of DB_REPLICA_HOSTS (db1:3307) is the primary itself",
        ),
        (
            {"DATABASE_URL": MARIADB, "DB_REPLICA_HOSTS": "db2:3308,db2:3308"},
            "entry 2 of DB_REPLICA_HOSTS (db2:3308) repeats a replica",
        ),
        (
            {"DATABASE_URL": MARIADB, "DB_REPLICA_HOSTS": "db2:port"},
            "entry 1 of DB_REPLICA_HOSTS ('db2:port') is not host or host:port",
        ),
        (
            {
                "DATABASE_URL": MARIADB,
                "DB_REPLICA_HOSTS": "db2",
                "DATABASE_REPLICA_URLS": "mysql://a:pw@db2/studyhall",
            },
            "Set DATABASE_REPLICA_URLS or DB_REPLICA_HOSTS, not both",
        ),
        (
            {"DATABASE_URL": MARIADB, "DB_REPLICA_HOSTS": "db2", "DB_REPLICA_WAIT_MS": "-1"},
            "DB_REPLICA_WAIT_MS='-1' is out of range",
        ),
        (
            {"DATABASE_URL": MARIADB, "DB_REPLICA_HOSTS": "db2", "DB_REPLICA_MAX_LAG_MS": "soon"},
            "DB_REPLICA_MAX_LAG_MS='soon' is not a whole number",
        ),
    ],
)
def test_bad_replica_settings_are_clear_errors(env, expected):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert expected in message
    for secret in ("pw-primary", "pw-bad", ":pw@"):
        assert secret not in message
