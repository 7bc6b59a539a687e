"""Routing per unit of work on real replication: which unit ran where (@@port /
inet_server_port()), a unit's own writes read back on the primary, stray writes refused."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import column, select, table, text

from studyhall.config import load_settings
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db import metrics
from studyhall.db.engine import Database
from studyhall.db.replicas import causal
from studyhall.errors import ReadOnlyTransactionError
from tests.replicas.conftest import PORT_SQL, Replicated
from tests.replication import Replication


def test_routing_table(replicated: Replicated) -> None:
    db, port = replicated.database, replicated.port
    replicas, primary = set(replicated.replica_ports), replicated.primary_port

    @with_db_session(read_only=True)
    def decorated_read() -> int:
        return port(get_current_session())

    @with_db_session
    def decorated_write() -> int:
        return port(get_current_session())

    @with_db_session
    def writable_calling_read_only() -> tuple[int, int]:
        outer = port(get_current_session())
        return outer, decorated_read()  # joins: stays in the writable unit, on the primary

    @with_db_session
    def writable_calling_requires_new_read() -> int:
        @with_db_session(read_only=True, propagation="requires_new")
        def own_read() -> int:
            return port(get_current_session())

        return own_read()

    def in_unit(**options: object) -> int:
        with db.unit_of_work(**options) as session:  # type: ignore[arg-type]
            return port(session)

    def manager_read() -> int:
        with DatabaseManager.get_session(read_only=True) as session:
            return port(session)

    table = {
        "unit_of_work(read_only=True)": in_unit(read_only=True),
        "unit_of_work()": in_unit(),
        "unit_of_work(read_only=True, isolation_level=REPEATABLE READ)": in_unit(
            read_only=True, isolation_level="REPEATABLE READ"
        ),
        "unit_of_work('nested', read_only=True), none active": in_unit(
            propagation="nested", read_only=True
        ),
        "DatabaseManager.get_session(read_only=True)": manager_read(),
        "@with_db_session(read_only=True)": decorated_read(),
        "@with_db_session": decorated_write(),
        "read_only call joined inside a writable unit": writable_calling_read_only()[1],
        "requires_new read_only unit inside a writable unit": writable_calling_requires_new_read(),
    }
    print(f"\n{replicated.backend}: primary {primary}, replicas {sorted(replicas)}")
    for what, where in table.items():
        print(f"  {what:<66} -> {where} ({'primary' if where == primary else 'replica'})")
    expected_primary = {
        "unit_of_work()",
        "@with_db_session",
        "read_only call joined inside a writable unit",
    }
    for what, where in table.items():
        assert (where == primary) == (what in expected_primary), what
        assert where in replicas | {primary}
    # Reads of a client with no commit behind them take the replicas in turn.
    causal.use_causal_token(None)
    assert {in_unit(read_only=True) for _ in range(4)} == replicas


def test_a_unit_reads_its_own_uncommitted_write(replicated: Replicated) -> None:
    """The per-statement recipe reads the unit's own write from a replica and misses it."""
    table = replicated.table

    @with_db_session
    def write_then_read() -> int | None:
        session = get_current_session()
        session.execute(text(f"UPDATE {table} SET value = 41 WHERE id = 1"))
        return session.execute(text(f"SELECT value FROM {table} WHERE id = 1")).scalar()

    assert write_then_read() == 41


def test_a_stray_write_on_a_replica_fails_clearly(replicated: Replicated) -> None:
    with pytest.raises(ReadOnlyTransactionError) as caught:
        with replicated.database.unit_of_work(read_only=True) as session:
            assert replicated.port(session) in replicated.replica_ports
            session.execute(text(f"UPDATE {replicated.table} SET value = 5 WHERE id = 1"))
    message = str(caught.value)
    assert "is read-only (a read replica" in message
    assert "without read_only=True" in message
    assert "studyhall-app" not in message


def test_a_unit_that_only_read_leaves_no_token(replicated: Replicated) -> None:
    token = causal.use_causal_token(None)
    try:
        with replicated.database.unit_of_work() as session:
            session.execute(select(column("value")).select_from(table(replicated.table))).all()
        assert causal.causal_token() is None  # a SELECT construct; textual SQL counts as a write
        with replicated.database.unit_of_work() as session:
            session.execute(text(f"UPDATE {replicated.table} SET value = 2 WHERE id = 1"))
        written = causal.causal_token()
        assert written is not None and written.startswith(replicated.backend)
    finally:
        causal.reset_causal_token(token)


def test_metrics_count_where_read_only_units_went(replicated: Replicated) -> None:
    registry = CollectorRegistry()
    metrics.enable_metrics(registry)
    try:
        for _ in range(3):
            with replicated.database.unit_of_work(read_only=True) as session:
                replicated.port(session)
        replicated.database.replicas.rotation.live = ()  # as if every replica were out
        with replicated.database.unit_of_work(read_only=True) as session:
            assert replicated.port(session) == replicated.primary_port
        value = registry.get_sample_value
        assert value("studyhall_db_replica_routing_total", {"route": "replica"}) == 3
        assert value("studyhall_db_replica_routing_total", {"route": "primary_no_replica"}) == 1
    finally:
        metrics.disable_metrics()


@pytest.mark.parametrize("backend", ["mariadb", "postgresql"])
def test_replicas_from_the_environment(replication: Replication, backend: str) -> None:
    replica_set = replication[backend]
    primary = replica_set.primary_url.render_as_string(hide_password=False)
    hosts = ",".join(f"{url.host}:{url.port}" for url in replica_set.replica_urls)
    settings = load_settings({"DATABASE_URL": primary, "DB_REPLICA_HOSTS": hosts})
    assert "studyhall-app" not in repr(settings)
    database = Database(settings)
    try:
        ports = set()
        for _ in range(4):
            with database.unit_of_work(read_only=True) as session:
                ports.add(session.execute(text(PORT_SQL[backend])).scalar())
        assert ports == {url.port for url in replica_set.replica_urls}
    finally:
        database.dispose()


def test_async_units_run_on_the_primary(replicated: Replicated) -> None:
    async def read() -> int:
        async_database = replicated.database.async_database()
        try:
            async with async_database.unit_of_work(read_only=True) as session:
                found = await session.execute(text(PORT_SQL[replicated.backend]))
                return int(found.scalar_one())
        finally:
            await replicated.database.dispose_async()

    assert asyncio.run(read()) == replicated.primary_port
