"""scripts/replicas.sh and tests/replication.py: real replication, and faults that undo.

Each test writes on a primary and reads on its replicas with the application account; the
fault helpers are checked against the replica left alone (replica 1), never against a timer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from tests.replication import ReplicaSet, Replication, run_script

BACKENDS = ("mariadb", "postgresql")


def _engine(url: URL) -> Engine:
    # Bounded waits: PyMySQL waits for the handshake of a frozen server without a read timeout.
    timeouts: dict[str, int] = {"connect_timeout": 2}
    if url.get_backend_name() == "mysql":
        timeouts |= {"read_timeout": 5, "write_timeout": 5}
    return create_engine(url, poolclass=NullPool, connect_args=timeouts)


@pytest.fixture(params=BACKENDS)
def replica_set(request: pytest.FixtureRequest, replication: Replication) -> ReplicaSet:
    return replication[request.param]


@pytest.fixture
def table(replica_set: ReplicaSet, replication: Replication) -> Iterator[str]:
    """A fresh table on the primary (so on every replica), dropped after the test."""
    name = f"replica_check_{uuid.uuid4().hex[:10]}"
    with _engine(replica_set.primary_url).begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, note VARCHAR(40))"))
    replication.wait_caught_up(replica_set.backend)
    yield name
    with _engine(replica_set.primary_url).begin() as conn:
        conn.execute(text(f"DROP TABLE {name}"))


def _write(replica_set: ReplicaSet, table: str, row_id: int) -> None:
    with _engine(replica_set.primary_url).begin() as conn:
        conn.execute(text(f"INSERT INTO {table} (id, note) VALUES ({row_id}, 'written')"))


def _ids(url: URL, table: str) -> set[int]:
    with _engine(url).connect() as conn:
        return set(conn.execute(text(f"SELECT id FROM {table}")).scalars())


def test_a_row_written_on_the_primary_appears_on_every_replica(
    replication: Replication, replica_set: ReplicaSet, table: str
) -> None:
    assert len(replica_set.replica_urls) == 2
    _write(replica_set, table, 1)
    replication.wait_caught_up(replica_set.backend)
    for url in replica_set.replica_urls:
        assert _ids(url, table) == {1}


def test_the_app_account_cannot_write_on_a_replica(replica_set: ReplicaSet, table: str) -> None:
    with pytest.raises(DBAPIError) as caught, _engine(replica_set.replica_urls[0]).begin() as conn:
        conn.execute(text(f"INSERT INTO {table} (id, note) VALUES (1, 'stray')"))
    if replica_set.backend == "mariadb":
        assert caught.value.orig.args[0] == 1290  # type: ignore[union-attr]
    else:
        assert "read-only transaction" in str(caught.value.orig)
    assert _ids(replica_set.primary_url, table) == set()


def test_a_paused_replica_applies_nothing_until_resumed(
    replication: Replication, replica_set: ReplicaSet, table: str
) -> None:
    paused, other = replica_set.replica_urls
    with replication.applying_paused(replica_set.backend, replica=0):
        _write(replica_set, table, 1)
        replication.wait_caught_up(replica_set.backend, replica=1)
        assert _ids(other, table) == {1}
        assert _ids(paused, table) == set()
    replication.wait_caught_up(replica_set.backend)
    assert _ids(paused, table) == {1}


def test_a_delayed_replica_applies_late_and_catches_up_when_the_delay_ends(
    replication: Replication, replica_set: ReplicaSet, table: str
) -> None:
    late, other = replica_set.replica_urls
    with replication.delayed(replica_set.backend, 600, replica=0):
        _write(replica_set, table, 1)
        replication.wait_caught_up(replica_set.backend, replica=1)
        assert _ids(other, table) == {1}
        assert _ids(late, table) == set()
    replication.wait_caught_up(replica_set.backend)
    assert _ids(late, table) == {1}


def test_a_frozen_replica_answers_nobody_until_thawed(
    replication: Replication, replica_set: ReplicaSet, table: str
) -> None:
    with replication.frozen(replica_set.backend, replica=0):
        assert run_script("status", replica_set.backend).returncode != 0
        with pytest.raises(OperationalError):
            _ids(replica_set.replica_urls[0], table)
        _write(replica_set, table, 1)
    replication.wait_caught_up(replica_set.backend)
    assert _ids(replica_set.replica_urls[0], table) == {1}
    assert run_script("status", replica_set.backend).returncode == 0


def test_a_killed_replica_is_started_again_and_catches_up(
    replication: Replication, replica_set: ReplicaSet, table: str
) -> None:
    with replication.killed(replica_set.backend, replica=0):
        assert run_script("status", replica_set.backend).returncode != 0
        with pytest.raises(OperationalError):
            _ids(replica_set.replica_urls[0], table)
        _write(replica_set, table, 1)
    assert _ids(replica_set.replica_urls[0], table) == {1}
    assert run_script("status", replica_set.backend).returncode == 0


def test_up_on_a_running_set_starts_nothing(replication: Replication) -> None:
    pid_files = sorted(replication.directory.glob("*.pid"))
    before = {path.name: path.read_text() for path in pid_files}
    assert len(before) == 6
    again = run_script("up", "all", "--replicas", "2")
    assert again.returncode == 0, again.stderr
    assert "starting" not in again.stdout
    assert {path.name: path.read_text() for path in pid_files} == before
