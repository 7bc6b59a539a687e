"""A Database with read replicas on the real replicated servers of `tests/replication.py`.

`replicated` gives a Database whose primary and replicas are a replica set of
`scripts/replicas.sh` (MariaDB GTID, PostgreSQL streaming), with a table of its own
(`items`, uniquely named) created on the primary and dropped after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from studyhall.config import DatabaseSettings, ReplicaSettings
from studyhall.db import default
from studyhall.db.engine import Database
from studyhall.db.replicas import reset_causal_token, use_causal_token
from tests.replication import Replication, replication  # noqa: F401 (the fixture)

BACKENDS = ("mariadb", "postgresql")
PORT_SQL = {"mariadb": "SELECT @@port", "postgresql": "SELECT inet_server_port()"}


@dataclass
class Replicated:
    backend: str
    database: Database
    table: str
    replication: Replication
    primary_port: int
    replica_ports: tuple[int, ...]

    def port(self, session: object) -> int:
        return int(session.execute(text(PORT_SQL[self.backend])).scalar())  # type: ignore[attr-defined]


def replicated_settings(
    replication: Replication,  # noqa: F811
    backend: str,
    **options: object,
) -> DatabaseSettings:
    replica_set = replication[backend]
    replicas = ReplicaSettings(
        urls=replica_set.replica_urls,
        # Generous unless a test is about lag: under load a healthy replica falls a second
        # behind on these 2 CPUs, and a test about routing must not see it leave.
        max_lag_ms=int(options.pop("max_lag_ms", 10_000)),  # type: ignore[call-overload]
        wait_ms=int(options.pop("wait_ms", 1000)),  # type: ignore[call-overload]
        probe_ms=int(options.pop("probe_ms", 100)),  # type: ignore[call-overload]
        connect_timeout=int(options.pop("connect_timeout", 2)),  # type: ignore[call-overload]
    )
    return DatabaseSettings(
        url=replica_set.primary_url,
        source="DATABASE_URL",
        replicas=replicas,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(autouse=True)
def _no_causal_token() -> Iterator[None]:
    """Each test starts as a client that has committed nothing."""
    token = use_causal_token(None)
    yield
    reset_causal_token(token)


@pytest.fixture(params=BACKENDS)
def replica_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def replicated(
    replication: Replication,  # noqa: F811
    replica_backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[Replicated]:
    """A Database with the backend's replicas, its default for the test, and a table."""
    marker = request.node.get_closest_marker("replica_options")
    options = dict(marker.kwargs) if marker else {}
    database = Database(replicated_settings(replication, replica_backend, **options))
    table = f"items_{uuid.uuid4().hex[:10]}"
    with database.engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, value INTEGER)"))
        conn.execute(text(f"INSERT INTO {table} (id, value) VALUES (1, 0)"))
    replication.wait_caught_up(replica_backend)
    replica_set = replication[replica_backend]
    try:
        with default.using(database):
            yield Replicated(
                replica_backend,
                database,
                table,
                replication,
                int(replica_set.primary_url.port or 0),
                tuple(int(url.port or 0) for url in replica_set.replica_urls),
            )
    finally:
        database.dispose()
        cleanup = Database(DatabaseSettings(url=replica_set.primary_url, source="DATABASE_URL"))
        try:
            with cleanup.engine.begin() as conn:
                conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        finally:
            cleanup.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "replica_options(**kw): ReplicaSettings / DatabaseSettings for `replicated`"
    )
