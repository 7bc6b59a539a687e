"""Where a read-only unit of work runs: a replica in rotation, or the primary.

`ReadSessions` is the session factory of read-only units. It is called only when a unit
opens its own session (a joined call runs in the session it joins, on the primary when
that unit may write), so a unit of work runs whole on one server, never statement by
statement. Without a causal token it takes the next replica in rotation. With one (the
client committed before), it takes a replica known to have applied it; else it waits on
the replica furthest ahead (as last seen), up to DB_REPLICA_WAIT_MS, and gives the unit to
the primary when the wait runs out.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from studyhall.db import metrics
from studyhall.db.replicas.causal import CAUSAL
from studyhall.db.replicas.health import Replica, Rotation
from studyhall.db.replicas.positions import Position, UnknownPosition
from studyhall.log import get_logger

log = get_logger(__name__)

# What `ReadSessions.counts` counts, per read-only unit that opened its own session:
REPLICA = "replica"  # ran on a replica
PRIMARY_NO_REPLICA = "primary_no_replica"  # on the primary: no replica in rotation
PRIMARY_NOT_APPLIED = "primary_not_applied"  # on the primary: none applied the token in time
# ... and for the units that had a causal token:
TOKEN_KNOWN = "token_known_applied"  # a replica was known to have applied it: no round trip
TOKEN_WAITED = "token_waited"  # a replica was asked, and applied it within the bound
TOKEN_TIMED_OUT = "token_timed_out"  # the bound passed first
# A read-only decorated unit run again because its replica failed (counted by the runner).
RERUN = "rerun_after_replica_failure"


class ReadSessions(sessionmaker[Session]):
    """The session factory of read-only units: a replica's session, or the primary's."""

    def __init__(
        self, rotation: Rotation, primary: sessionmaker[Session], wait_seconds: float
    ) -> None:
        super().__init__(bind=primary.kw.get("bind"))
        self.rotation = rotation
        self.primary = primary
        self.wait_seconds = wait_seconds
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, **local_kw: Any) -> Session:
        if not local_kw:
            live = self.rotation.live
            if live:
                token = CAUSAL.get()
                if token is None or not self.rotation.positions.owns(token):
                    # No commit of this client on this primary (a token of another
                    # backend, e.g. from a web session of another deployment, says none).
                    replica: Replica | None = live[next(self.rotation.turn) % len(live)]
                else:
                    replica = self._applied(live, token)
                if replica is not None:
                    self.count(REPLICA)
                    return replica.sessions()
                self.count(PRIMARY_NOT_APPLIED)
            else:
                self.count(PRIMARY_NO_REPLICA)
        return self.primary(**local_kw)

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1
        if metrics.on:
            metrics.record_replica_routing(what)

    def _applied(self, live: tuple[Replica, ...], token: Position) -> Replica | None:
        """A replica in `live` that has applied `token`, waiting for one up to the bound."""
        if isinstance(token, UnknownPosition):
            return None
        first = next(self.rotation.turn)
        # Known to have applied it: no round trip. Else wait on the one furthest ahead.
        furthest, ahead = live[first % len(live)], None
        for i in range(len(live)):
            replica = live[(first + i) % len(live)]
            applied = replica.applied
            if applied is None:
                continue
            if applied.covers(token):
                self.count(TOKEN_KNOWN)
                return replica
            if ahead is None or not ahead.covers(applied):
                furthest, ahead = replica, applied
        if self.wait_seconds <= 0:
            self.count(TOKEN_TIMED_OUT)
            return None
        replica = furthest
        try:
            with replica.engine.connect() as conn:
                reached = self.rotation.positions.wait(conn, token, self.wait_seconds)
        except Exception as exc:  # its engine's listener took it out if it is down
            log.info("Waiting on read replica %s failed: %s", replica.name, type(exc).__name__)
            reached = None
        if reached is None:
            self.count(TOKEN_TIMED_OUT)
            return None
        if replica.in_rotation:
            replica.applied = reached
        self.count(TOKEN_WAITED)
        return replica


__all__ = [
    "PRIMARY_NOT_APPLIED",
    "PRIMARY_NO_REPLICA",
    "REPLICA",
    "RERUN",
    "ReadSessions",
    "TOKEN_KNOWN",
    "TOKEN_TIMED_OUT",
    "TOKEN_WAITED",
]
