"""Replicas that fail under load: killed (SIGKILL), hung (SIGSTOP), lagging (apply delayed).

Two threads run read-only decorated units (a web request's reads) the whole time, a third
writes; not one read may fail. Printed: how long the replica took to leave the rotation
after the fault, and to come back after it ended (pytest -rP)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from studyhall.database import get_current_session, with_db_session
from tests.replicas.conftest import Replicated

READERS = 2
OPTIONS = {"probe_ms": 100, "max_lag_ms": 1000, "read_timeout": 5.0}


class Load:
    """Readers and a writer running until stopped; what they saw."""

    def __init__(self, replicated: Replicated, retries: int = 0) -> None:
        self.replicated = replicated
        self.stop = threading.Event()
        self.ports: Counter[int] = Counter()
        self.failures: list[BaseException] = []
        self.slowest = 0.0
        table = replicated.table

        @with_db_session(read_only=True, retries=retries)
        def read() -> int:
            session = get_current_session()
            session.execute(text(f"SELECT value FROM {table} WHERE id = 1")).scalar()
            return replicated.port(session)

        @with_db_session
        def write(value: int) -> None:
            get_current_session().execute(text(f"UPDATE {table} SET value = {value} WHERE id = 1"))

        self.threads = [
            threading.Thread(target=self._reading, args=(read,)) for _ in range(READERS)
        ]
        self.threads.append(threading.Thread(target=self._writing, args=(write,)))

    def _reading(self, read: Callable[[], int]) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.ports[read()] += 1
            except Exception as exc:
                self.failures.append(exc)
            self.slowest = max(self.slowest, time.monotonic() - started)
            time.sleep(0.002)

    def _writing(self, write: Callable[[int], None]) -> None:
        value = 0
        while not self.stop.is_set():
            value += 1
            try:
                write(value)
            except Exception as exc:
                self.failures.append(exc)
            time.sleep(0.005)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def _wait_for_event(replicated: Replicated, change: str, since: float, limit: float) -> float:
    """Seconds from `since` to the first replica-1 `change` ('out' / 'in') after it."""
    assert replicated.database.replicas is not None
    rotation = replicated.database.replicas.rotation
    name = rotation.replicas[0].name
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for event in list(rotation.events):
            if event.replica == name and event.change == change and event.at >= since:
                return event.at - since
        time.sleep(0.01)
    raise AssertionError(f"replica 1 did not go {change} within {limit} s")


@contextlib.contextmanager
def _fault(replicated: Replicated, kind: str) -> Iterator[None]:
    replication, backend = replicated.replication, replicated.backend
    if kind == "killed":
        with replication.killed(backend, 0):
            yield
    elif kind == "hung":
        with replication.frozen(backend, 0):
            yield
    else:
        with replication.delayed(backend, 3, replica=0):
            yield
        replication.wait_caught_up(backend, 0)


@pytest.mark.replica_options(**OPTIONS)
@pytest.mark.parametrize("kind", ["killed", "hung", "lagging"])
def test_no_read_fails_when_a_replica_does(replicated: Replicated, kind: str) -> None:
    with Load(replicated) as load:
        time.sleep(0.3)
        faulted, before = time.monotonic(), Counter(load.ports)
        with _fault(replicated, kind):
            out_after = _wait_for_event(replicated, "out", faulted, 30)
            time.sleep(1.0)  # reads go on without it
            during = Counter(load.ports)
            healed = time.monotonic()  # killed: the restart begins
        back_after = _wait_for_event(replicated, "in", healed, 60)
        time.sleep(0.3)
    replicas = replicated.database.replicas
    assert replicas is not None
    events = [(round(e.at - faulted, 2), e.change, e.reason) for e in replicas.rotation.events]
    print(
        f"\n{replicated.backend}, replica {kind}: out of rotation {out_after:.2f} s after the "
        f"fault, back {back_after:.2f} s after it ended (restart included: killed); reads "
        f"by port {dict(sorted(load.ports.items()))}, slowest read {load.slowest:.2f} s, "
        f"failed {len(load.failures)}; routing {replicas.counts()}; rotation "
        f"of replica 1 {events}"
    )
    assert load.failures == []
    assert sum(load.ports.values()) > 50
    other = replicated.replica_ports[1]
    assert during[other] > before[other]  # the other replica served meanwhile


@pytest.mark.replica_options(**OPTIONS)
def test_reads_with_retries_run_again_at_once_when_their_replica_dies(
    replicated: Replicated,
) -> None:
    """`retries=N` units take the same path: a replica's failure is not a conflict to back
    off from, but a reason to run again elsewhere at once."""
    with Load(replicated, retries=2) as load:
        time.sleep(0.3)
        with replicated.replication.killed(replicated.backend, 0):
            time.sleep(1.0)
    assert load.failures == []
