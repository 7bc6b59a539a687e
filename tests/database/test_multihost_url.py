"""PostgreSQL multi-host URLs (libpq's failover list): accepted, masked, named in messages.

The failover itself, on a real primary and standby, is in
tests/replication_servers/test_postgres_failover.py.
"""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from studyhall.config import DatabaseSettings, load_settings, server_address
from studyhall.db.engine import Database
from studyhall.errors import DatabaseUnavailableError

REPEATED = (
    "postgresql+psycopg://studyhall:s3cret-pw@/studyhall"
    "?host=db1.internal:5432&host=db2.internal:5433&target_session_attrs=read-write"
)
LISTED = (
    "postgresql://studyhall:s3cret-pw@/studyhall"
    "?host=db1.internal,db2.internal&port=5432,5433&target_session_attrs=read-write"
)


@pytest.mark.parametrize("raw", [REPEATED, LISTED])
def test_a_multi_host_database_url_is_accepted_and_masked(raw: str) -> None:
    settings = load_settings({"DATABASE_URL": raw})
    assert settings.url.drivername == "postgresql+psycopg"
    assert settings.url.query["target_session_attrs"] == "read-write"
    assert server_address(settings.url) == "db1.internal:5432, db2.internal:5433"
    for shown in (settings.masked_url, repr(settings), str(settings)):
        assert "s3cret-pw" not in shown
        assert "db1.internal" in shown and "db2.internal" in shown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql+psycopg://u@/d?host=a&host=b", "a:5432, b:5432"),
        ("postgresql+psycopg://u@/d?host=a,b&port=6000", "a:6000, b:6000"),
        ("postgresql+psycopg://u@/d?host=a:6000&host=b", "a:6000, b:5432"),
        ("postgresql+psycopg://u@db:6000/d", "db:6000"),
    ],
)
def test_server_address_names_every_host(raw: str, expected: str) -> None:
    assert server_address(make_url(raw)) == expected


def test_replica_hosts_leave_the_primarys_host_list_and_read_write_demand_behind() -> None:
    settings = load_settings({"DATABASE_URL": REPEATED, "DB_REPLICA_HOSTS": "db3.internal"})
    assert settings.replicas is not None
    (replica,) = settings.replicas.urls
    assert (replica.host, replica.port) == ("db3.internal", 5432)
    # A standby refuses target_session_attrs=read-write: the replica's URL must not ask it.
    assert dict(replica.query) == {}
    assert replica.password == "s3cret-pw"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_unavailable_error_names_every_host_and_no_password() -> None:
    first, second = _closed_port(), _closed_port()
    url = make_url(
        f"postgresql+psycopg://studyhall:s3cret-pw@/studyhall?host=127.0.0.1:{first}"
        f"&host=127.0.0.1:{second}&target_session_attrs=read-write"
    )
    database = Database(DatabaseSettings(url=url, source="DATABASE_URL", connect_timeout=2))
    try:
        with pytest.raises(DatabaseUnavailableError) as caught, database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        database.dispose()
    message = str(caught.value)
    assert f"127.0.0.1:{first}, 127.0.0.1:{second}" in message
    assert "None:None" not in message and "s3cret-pw" not in message
