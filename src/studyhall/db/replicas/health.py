"""Which replicas serve reads: the rotation, and the probe that keeps it true.

A replica leaves the rotation when a unit of work's connection to it fails (at once, see
`failures`) or when the probe finds it unreachable, not replicating, or lagging more than
DB_REPLICA_MAX_LAG_MS; the probe, every DB_REPLICA_PROBE_MS, puts it back once it answers
and has caught up. So a replica that fails is out within one probe period (plus the
probe's 1.5 s timeouts for a hung one), and back within one period of recovering.

Lag without any privilege beyond the application's: each probe samples the primary's
position; a replica's lag is the age of the oldest sample it has not applied (0 when it
has applied the latest): it is at least that far behind, and at most one period more.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from studyhall.config import DatabaseSettings
from studyhall.db.backends import build_engine, build_probe_engine
from studyhall.db.replicas.failures import replica_failure, watch_engine
from studyhall.db.replicas.positions import Position, Positions
from studyhall.db.session import StudyhallSession
from studyhall.db.spare_sessions import ReusingSessionmaker
from studyhall.errors import DatabaseUnavailableError
from studyhall.log import get_logger

log = get_logger(__name__)


class Replica:
    """One replica: its engine and sessions, the position it is known to have applied."""

    def __init__(self, settings: DatabaseSettings, on_failure: Callable[[Replica, str], None]):
        self.settings = settings
        self.name = f"{settings.url.host}:{settings.url.port}"
        self.engine: Engine = build_engine(settings)
        self.sessions: sessionmaker[Session] = ReusingSessionmaker(
            self.engine, class_=StudyhallSession, expire_on_commit=False
        )
        self.probe_engine = build_probe_engine(settings)
        # The newest applied position seen (probe or wait); None: unknown, check first.
        self.applied: Position | None = None
        self.in_rotation = True
        self.reason = ""
        # The pool entries of the connections units hold now: cut when the replica hangs.
        self.checked_out: set[ConnectionPoolEntry] = set()
        event.listen(self.engine, "checkout", self._checked_out)
        event.listen(self.engine, "checkin", self._checked_in)
        event.listen(self.engine, "do_connect", self._refuse_when_out)
        watch_engine(self.engine, lambda reason: on_failure(self, reason))

    def _checked_out(self, dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        self.checked_out.add(record)

    def _checked_in(self, dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        self.checked_out.discard(record)

    def _refuse_when_out(self, dialect: Any, record: Any, cargs: Any, cparams: Any) -> None:
        # A unit routed here just before the replica left the rotation (or the pool's
        # reconnect after a cut) gets no new connection to wait on: its unit runs again
        # elsewhere at once.
        if not self.in_rotation:
            raise replica_failure(
                DatabaseUnavailableError(
                    f"The read replica {self.name} is out of rotation ({self.reason}): no "
                    "new connection is made to it until the probe finds it well again."
                )
            )

    def cut_connections(self) -> int:
        """Shut down the sockets of the connections units hold on this replica; return how
        many. For a hung server: a unit waiting for its reply gets a lost connection now
        (and, read-only, runs again elsewhere) instead of waiting out DB_READ_TIMEOUT, or
        forever on PostgreSQL, where libpq has no read timeout and TCP keepalives are
        answered by the kernel of a stopped server."""
        cut = 0
        for record in list(self.checked_out):
            fd = _socket_of(record.dbapi_connection)
            if fd is None:
                continue
            with contextlib.suppress(OSError):
                # On a duplicate of the descriptor: shutdown acts on the socket itself,
                # and the driver closes its own descriptor when it sees the error.
                with socket.socket(fileno=os.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
                cut += 1
        return cut

    def dispose(self) -> None:
        self.engine.dispose()
        self.probe_engine.dispose()

    def __repr__(self) -> str:
        state = "in rotation" if self.in_rotation else f"out: {self.reason}"
        return f"Replica({self.name}, {state})"


@dataclasses.dataclass(frozen=True)
class RotationEvent:
    """A replica left (`out`) or rejoined (`in`) the rotation, at `at` (time.monotonic)."""

    at: float
    replica: str
    change: str
    reason: str


class Rotation:
    """The replicas, those in rotation (`live`, read without a lock), and the probe thread."""

    def __init__(self, primary: DatabaseSettings) -> None:
        replicas = primary.replicas
        assert replicas is not None
        self.max_lag = replicas.max_lag_ms / 1000
        self.period = replicas.probe_ms / 1000
        self.positions = Positions(primary.backend)
        self.replicas = [
            Replica(_replica_settings(primary, url_index), self.take_out)
            for url_index in range(len(replicas.urls))
        ]
        self.live: tuple[Replica, ...] = tuple(self.replicas)
        self.turn = itertools.count()
        self.events: deque[RotationEvent] = deque(maxlen=1000)
        self._lock = threading.Lock()
        self._primary_probe = build_probe_engine(primary)
        self._samples: deque[tuple[float, Position]] = deque()
        self._stop = threading.Event()
        self._start_probe()
        _rotations.add(self)

    def _start_probe(self) -> None:
        self._thread = threading.Thread(
            target=self._probe_forever, name="studyhall-replica-probe", daemon=True
        )
        self._thread.start()

    def take_out(self, replica: Replica, reason: str) -> None:
        """Stop sending reads to `replica` until the probe finds it well again."""
        with self._lock:
            replica.applied = None  # a replica that restarts may come back behind it
            if not replica.in_rotation:
                return
            replica.in_rotation, replica.reason = False, reason
            self.live = tuple(r for r in self.replicas if r.in_rotation)
            self.events.append(RotationEvent(time.monotonic(), replica.name, "out", reason))
        log.warning(
            "Read replica %s is out of rotation (%s); its reads go to %s.",
            replica.name,
            reason,
            "the other replicas" if self.live else "the primary",
        )

    def put_back(self, replica: Replica) -> None:
        with self._lock:
            if replica.in_rotation:
                return
            replica.in_rotation, reason = True, replica.reason
            replica.reason = ""
            self.live = tuple(r for r in self.replicas if r.in_rotation)
            self.events.append(RotationEvent(time.monotonic(), replica.name, "in", reason))
        log.info("Read replica %s is back in rotation.", replica.name)

    def probe(self) -> None:
        """Check every replica once (the probe thread does this every period)."""
        now = time.monotonic()
        try:
            with self._primary_probe.connect() as conn:
                sample = self.positions.primary(conn)
        except Exception:  # the primary's own health is not ours to judge
            sample = None
        if sample is not None:
            self._samples.append((now, sample))
        # Keep one sample older than the lag allowed (and a period): a replica that has
        # applied none of them is then known to lag too much, however slow the probes.
        samples = self._samples
        while len(samples) > 1 and now - samples[1][0] > self.max_lag + self.period:
            samples.popleft()
        for replica in self.replicas:
            try:
                with replica.probe_engine.connect() as conn:
                    applied = self.positions.applied(conn)
            except Exception as exc:
                self.take_out(replica, f"the probe failed: {type(exc).__name__}")
                cut = replica.cut_connections()
                if cut:
                    log.warning(
                        "Cut %d connection(s) to read replica %s, which does not answer: "
                        "their units run again elsewhere.",
                        cut,
                        replica.name,
                    )
                continue
            if applied is None:
                self.take_out(replica, "it is not replicating (no applied position)")
                continue
            replica.applied = applied
            if sample is None:
                continue  # no lag to judge without the primary's position: no change
            lag = self._lag(applied, now)
            if lag > self.max_lag:
                self.take_out(
                    replica,
                    f"it lags {lag * 1000:.0f} ms (DB_REPLICA_MAX_LAG_MS allows "
                    f"{self.max_lag * 1000:.0f})",
                )
            else:
                self.put_back(replica)

    def _lag(self, applied: Position, now: float) -> float:
        # At least since the oldest sample it has not applied (behind by no more than
        # one period beyond that).
        missing_since = None
        for at, sample in reversed(self._samples):
            if applied.covers(sample):
                break
            missing_since = at
        return 0.0 if missing_since is None else now - missing_since

    def _probe_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.probe()
            except Exception:  # never let the thread die: log, and probe again
                log.exception("The read replica probe failed")
            self._stop.wait(self.period)

    def dispose(self) -> None:
        """Stop the probe and close every replica connection."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        for replica in self.replicas:
            replica.dispose()
        self._primary_probe.dispose()


# Every Rotation with its probe running: a forked child starts the probes anew (threads do
# not survive a fork), else a replica taken out in the child would never come back.
_rotations: weakref.WeakSet[Rotation] = weakref.WeakSet()


def _restart_probes_in_child() -> None:
    for rotation in list(_rotations):
        if not rotation._stop.is_set():
            rotation._lock = threading.Lock()
            rotation._start_probe()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_probes_in_child)


def _socket_of(dbapi_connection: Any) -> int | None:
    """The socket descriptor of a PyMySQL, mysqlclient or psycopg connection, if open."""
    try:
        sock = getattr(dbapi_connection, "_sock", None)  # PyMySQL
        if sock is not None:
            return int(sock.fileno())
        pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg
        if pgconn is not None:
            return int(pgconn.socket)
        fileno = getattr(dbapi_connection, "fileno", None)  # mysqlclient
        return int(fileno()) if fileno is not None else None
    except Exception:  # closed meanwhile
        return None


def _replica_settings(primary: DatabaseSettings, index: int) -> DatabaseSettings:
    """The settings of replica `index`: the primary's, on the replica's URL, with its
    connect timeout, and no replicas of its own."""
    replicas = primary.replicas
    assert replicas is not None
    return dataclasses.replace(
        primary,
        url=replicas.urls[index],
        connect_timeout=replicas.connect_timeout,
        replicas=None,
    )


__all__ = ["Replica", "Rotation", "RotationEvent"]
