"""Fork safety: a forked child never uses a connection its parent opened.

Pre-forking servers and multiprocessing fork a process that has already used the
database. A child that reused the parent's pooled socket would read replies meant for
another process (or break the parent's connection).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
from typing import Any

from sqlalchemy import bindparam, text

from studyhall.database import DatabaseManager
from studyhall.db.engine import Database

CHILDREN = 4
QUERIES = 25
CONNECTION_ID = {
    "mariadb": "SELECT CONNECTION_ID()",
    "postgresql": "SELECT pg_backend_pid()",
    "sqlite": "SELECT 0",
}


def _connection_id(backend: str) -> int:
    with DatabaseManager.get_session() as session:
        return int(session.execute(text(CONNECTION_ID[backend])).scalar_one())


def _child(backend: str, go: int, report: int) -> None:
    """Wait for the start signal, run QUERIES units that each must see their own value."""
    os.read(go, 1)
    wrong: list[Any] = []
    for i in range(QUERIES):
        expected = os.getpid() * 1000 + i
        with DatabaseManager.get_session() as session:
            got = session.execute(text("SELECT :value").bindparams(value=expected)).scalar()
        if got != expected:
            wrong.append([expected, got])
    result = {"pid": os.getpid(), "wrong": wrong, "connection": _connection_id(backend)}
    os.write(report, (json.dumps(result) + "\n").encode())


def _fork_children(backend: str) -> list[dict[str, Any]]:
    go_read, go_write = os.pipe()
    report_read, report_write = os.pipe()
    pids = []
    for _ in range(CHILDREN):
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                os.close(go_write)
                os.close(report_read)
                _child(backend, go_read, report_write)
                code = 0
            except BaseException as exc:  # noqa: B036 - reported to the parent
                error = {"pid": os.getpid(), "error": f"{type(exc).__name__}: {exc}"[:500]}
                os.write(report_write, (json.dumps(error) + "\n").encode())
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(go_read)
    os.close(report_write)
    os.write(go_write, b"x" * CHILDREN)  # start every child at once
    os.close(go_write)
    output = b""
    while True:
        ready, _, _ = select.select([report_read], [], [], 60)
        assert ready, "the children did not report within 60 s"
        chunk = os.read(report_read, 65536)
        if not chunk:
            break
        output += chunk
    os.close(report_read)
    for pid in pids:
        os.waitpid(pid, 0)
    return [json.loads(line) for line in output.decode().splitlines()]


def test_children_get_their_own_connections_and_results(database: Database, backend: str) -> None:
    parent_connection = _connection_id(backend)  # the pool now holds a used connection
    results = _fork_children(backend)
    assert len(results) == CHILDREN
    assert [r for r in results if "error" in r or r["wrong"]] == []
    if backend != "sqlite":
        connections = {r["connection"] for r in results}
        assert parent_connection not in connections
        assert len(connections) == CHILDREN
    # The parent's pooled connection was left alone: still the same, and it works.
    assert _connection_id(backend) == parent_connection
    with DatabaseManager.get_session() as session:
        assert session.execute(text("SELECT :v").bindparams(bindparam("v", 7))).scalar() == 7


def _own_value(n: int) -> tuple[int, int, int]:
    """In a multiprocessing worker: a value only this process asks for, and the answer."""
    expected = os.getpid() * 1000 + n
    with DatabaseManager.get_session() as session:
        got = session.execute(text("SELECT :value").bindparams(value=expected)).scalar_one()
    return os.getpid(), expected, int(got)


def test_multiprocessing_fork_workers_get_their_own_results(database: Database) -> None:
    with DatabaseManager.get_session() as session:
        session.execute(text("SELECT 1"))
    with multiprocessing.get_context("fork").Pool(CHILDREN) as pool:
        answers = pool.map(_own_value, range(40), chunksize=1)
    assert [(expected, got) for _, expected, got in answers if got != expected] == []
    assert all(pid != os.getpid() for pid, _, _ in answers)
    with DatabaseManager.get_session() as session:
        assert session.execute(text("SELECT 2")).scalar() == 2


def test_a_connection_of_another_process_is_never_checked_out(database: Database) -> None:
    # As after a fork that bypassed Python's fork hooks (a C extension calling fork()):
    # the pool still holds a connection another process opened.
    with database.engine.connect() as conn:
        inherited = conn.connection.dbapi_connection
        conn.connection._connection_record.info["studyhall.pid"] = -1  # type: ignore[union-attr]
    with database.engine.connect() as conn:
        assert conn.connection.dbapi_connection is not inherited
        assert conn.execute(text("SELECT 1")).scalar() == 1
    # Dropped, not closed: closing it would have ended the other process's session.
    cursor = inherited.cursor()  # type: ignore[union-attr]
    cursor.execute("SELECT 1")
    assert cursor.fetchone()[0] == 1
    cursor.close()
    inherited.close()  # type: ignore[union-attr]
