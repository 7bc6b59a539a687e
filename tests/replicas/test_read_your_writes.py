"""Read-your-writes on real replication: 1,000 write-then-read pairs while a replica's
apply is paused part of the time, and not one stale read; the same reads without the
client's token do read stale values (so the check can fail)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from studyhall.database import get_current_session, with_db_session
from studyhall.db.replicas import router, use_causal_token
from tests.replicas.conftest import Replicated

PAIRS = 1000
CONTROL_PAIRS = 200
PAUSE_SECONDS = 0.15


def _pausing(replicated: Replicated, stop: threading.Event) -> threading.Thread:
    """A thread that pauses the first replica's apply for 0.15 s in every 0.3 s."""

    def run() -> None:
        while not stop.is_set():
            with replicated.replication.applying_paused(replicated.backend, 0):
                stop.wait(PAUSE_SECONDS)
            stop.wait(PAUSE_SECONDS)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.replica_options(wait_ms=20, max_lag_ms=5000)
def test_a_thousand_writes_then_reads_never_read_stale(replicated: Replicated) -> None:
    table, db = replicated.table, replicated.database
    assert db.replicas is not None

    @with_db_session
    def write(value: int) -> None:
        get_current_session().execute(text(f"UPDATE {table} SET value = {value} WHERE id = 1"))

    @with_db_session(read_only=True)
    def read() -> tuple[int, int]:
        session = get_current_session()
        value = session.execute(text(f"SELECT value FROM {table} WHERE id = 1")).scalar()
        return int(value or 0), replicated.port(session)

    stop = threading.Event()
    pauser = _pausing(replicated, stop)
    try:
        # Control: a client that forgets its token reads from a paused replica stale.
        stale_without_token = 0
        for value in range(1, CONTROL_PAIRS + 1):
            write(value)
            use_causal_token(None)
            stale_without_token += read()[0] != value
        before = db.replicas.counts()
        stale, served = 0, {"replica": 0, "primary": 0}
        started = time.perf_counter()
        for value in range(CONTROL_PAIRS + 1, CONTROL_PAIRS + PAIRS + 1):
            write(value)
            seen, port = read()
            stale += seen != value
            served["primary" if port == replicated.primary_port else "replica"] += 1
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        pauser.join()
    after = db.replicas.counts()
    counts = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    print(
        f"\n{replicated.backend}: {PAIRS} write-then-read pairs in {elapsed:.1f} s, replica 1 "
        f"paused {PAUSE_SECONDS}s in every {2 * PAUSE_SECONDS}s, wait bound 20 ms: "
        f"{stale} stale; served by a replica {served['replica']}, by the primary "
        f"{served['primary']}; token already applied {counts.get(router.TOKEN_KNOWN, 0)}, "
        f"waited {counts.get(router.TOKEN_WAITED, 0)}, timed out "
        f"{counts.get(router.TOKEN_TIMED_OUT, 0)}. Without the token: "
        f"{stale_without_token} of {CONTROL_PAIRS} reads stale."
    )
    assert stale_without_token > 0  # the pauses do make replicas stale
    assert stale == 0
    assert served["replica"] > 0  # and the primary when no replica applied it in time
    assert served["replica"] == counts[router.REPLICA] - counts.get(router.RERUN, 0)
