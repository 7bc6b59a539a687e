"""Replication positions: where a commit on the primary is, and what a replica has applied.

MariaDB: a GTID position, one `domain-server-sequence` per replication domain; a replica
has applied a position when, in every domain of it, its own sequence is at least as high
(`gtid_strict_mode` keeps sequences increasing). PostgreSQL: a WAL location (LSN); a
standby has applied it when `pg_last_wal_replay_lsn()` is at least as far.

Any position at or after a commit is a correct read-your-writes token for it: the replica
waits a little longer at worst. What each backend reads:

- after a unit's COMMIT, on its own connection: MariaDB `@@last_gtid` (exactly that
  commit's GTID; empty when it logged nothing), PostgreSQL `pg_current_wal_insert_lsn()`
  (the end of the last WAL record inserted, so at or after the commit record whatever
  `synchronous_commit` says: `pg_current_wal_lsn()`, the write position, may not have
  reached it yet when commits do not wait for the flush);
- the primary's position, for the lag: `@@gtid_binlog_pos`, `pg_current_wal_insert_lsn()`;
- a replica's applied position: `@@gtid_slave_pos`, `pg_last_wal_replay_lsn()`;
- waiting on a replica: `MASTER_GTID_WAIT(position, seconds)`; PostgreSQL has no wait
  function before 17, so its replay position is polled (every 0.5 ms, then up to 5 ms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

# PostgreSQL WAL pages are 8 kB (XLOG_BLCKSZ); a page begins with a 24-byte header, or
# 40 bytes at the start of a 16 MB segment (the builds studyhall supports use these).
_PAGE, _SEGMENT = 8192, 16 * 1024 * 1024
_SHORT_HEADER, _LONG_HEADER = 24, 40
_POLL_FIRST, _POLL_MOST = 0.0005, 0.005


@dataclass(frozen=True)
class GtidPosition:
    """A MariaDB GTID position: ((domain, server, sequence), ...), one per domain."""

    gtids: tuple[tuple[int, int, int], ...]

    @classmethod
    def parse(cls, text: str | None) -> GtidPosition | None:
        """The position `0-1-42,1-2-7` names; None when empty. ValueError when malformed."""
        if not text or not text.strip():
            return None
        gtids = []
        for part in text.replace("\n", "").split(","):
            domain, server, sequence = (int(number) for number in part.strip().split("-"))
            gtids.append((domain, server, sequence))
        return cls(tuple(sorted(gtids)))

    def covers(self, other: Position) -> bool:
        """Whether a server at this position has applied everything up to `other`."""
        if not isinstance(other, GtidPosition):
            return False
        mine = {domain: sequence for domain, _, sequence in self.gtids}
        return all(mine.get(domain, -1) >= sequence for domain, _, sequence in other.gtids)

    def merged(self, other: Position) -> Position:
        """The position at or after both (the higher sequence in each domain)."""
        if not isinstance(other, GtidPosition):
            return self
        by_domain = {domain: (server, sequence) for domain, server, sequence in self.gtids}
        for domain, server, sequence in other.gtids:
            if by_domain.get(domain, (0, -1))[1] < sequence:
                by_domain[domain] = (server, sequence)
        return GtidPosition(tuple(sorted((d, s, n) for d, (s, n) in by_domain.items())))

    def __str__(self) -> str:
        return ",".join(f"{d}-{s}-{n}" for d, s, n in self.gtids)


@dataclass(frozen=True)
class LsnPosition:
    """A PostgreSQL WAL location, as a number of bytes."""

    lsn: int

    @classmethod
    def parse(cls, text: str | None) -> LsnPosition | None:
        """The location `16/B374D848` names; None for NULL. ValueError when malformed."""
        if not text:
            return None
        high, low = text.strip().split("/")
        lsn = (int(high, 16) << 32) | int(low, 16)
        # An insert position just past a page header is the page boundary itself: nothing
        # was inserted in between, and a standby's replay position stops at the boundary.
        if lsn % _SEGMENT == _LONG_HEADER:
            lsn -= _LONG_HEADER
        elif lsn % _PAGE == _SHORT_HEADER and lsn % _SEGMENT != _SHORT_HEADER:
            lsn -= _SHORT_HEADER
        return cls(lsn)

    def covers(self, other: Position) -> bool:
        """Whether a standby that replayed up to here has applied `other`."""
        return isinstance(other, LsnPosition) and self.lsn >= other.lsn

    def merged(self, other: Position) -> Position:
        if isinstance(other, LsnPosition) and other.lsn > self.lsn:
            return other
        return self

    def __str__(self) -> str:
        return f"{self.lsn >> 32:X}/{self.lsn & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class UnknownPosition:
    """A commit whose position could not be read: no replica is known to have applied it,
    so the client's reads go to the primary until its next write gives a position."""

    def covers(self, other: Position) -> bool:
        return False

    def merged(self, other: Position) -> Position:
        return other

    def __str__(self) -> str:
        return "?"


Position = GtidPosition | LsnPosition | UnknownPosition


class Positions:
    """How one backend family reads and waits for positions (see the module docstring)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.mysql = family in ("mysql", "mariadb")

    def owns(self, position: Position) -> bool:
        """Whether `position` is one of this backend's (an unknown one is everyone's)."""
        kind = GtidPosition if self.mysql else LsnPosition
        return isinstance(position, (kind, UnknownPosition))

    def parse(self, text: str | None) -> GtidPosition | LsnPosition | None:
        return GtidPosition.parse(text) if self.mysql else LsnPosition.parse(text)

    def after_commit(self, driver_connection: Any) -> Position | None:
        """The position of the commit just made on `driver_connection` (a DB-API connection
        with no transaction open); None when it wrote nothing to replicate.

        Sent on the driver itself, opening no transaction: the pool then skips the reset
        after it, as after any committed unit.
        """
        if self.mysql:
            held = getattr(driver_connection, "may_hold_transaction", None)
            cursor = driver_connection.cursor()
            try:
                cursor.execute("SELECT @@last_gtid")
                row = cursor.fetchone()
            finally:
                cursor.close()
            if held is not None:
                # Reading a session variable takes no snapshot and no lock: the connection
                # holds no more than the COMMIT left it with.
                driver_connection.may_hold_transaction = held
            return self.parse(row[0] if row else None)
        # libpq's simple query outside a transaction block: psycopg starts none.
        result = driver_connection.pgconn.exec_(b"SELECT pg_current_wal_insert_lsn()")
        value = result.get_value(0, 0)
        if value is None:
            raise RuntimeError(
                result.error_message.decode(errors="replace") or "no position returned"
            )
        return self.parse(value.decode())

    def primary(self, connection: Connection) -> Position | None:
        """The primary's current position."""
        sql = "SELECT @@gtid_binlog_pos" if self.mysql else "SELECT pg_current_wal_insert_lsn()"
        return self.parse(_text(connection.exec_driver_sql(sql).scalar()))

    def applied(self, connection: Connection) -> Position | None:
        """What the replica has applied; None when it is not replicating (never was)."""
        sql = "SELECT @@gtid_slave_pos" if self.mysql else "SELECT pg_last_wal_replay_lsn()"
        return self.parse(_text(connection.exec_driver_sql(sql).scalar()))

    def wait(self, connection: Connection, target: Position, seconds: float) -> Position | None:
        """Wait up to `seconds` for the replica to apply `target`; its applied position
        once it has, None when the time ran out."""
        if self.mysql:
            row = connection.exec_driver_sql(
                "SELECT MASTER_GTID_WAIT(%s, %s), @@gtid_slave_pos", (str(target), seconds)
            ).one()
            if row[0] != 0:
                return None
            seen = self.parse(_text(row[1]))
            return target if seen is None else seen.merged(target)
        deadline = time.monotonic() + seconds
        pause = _POLL_FIRST
        while True:
            applied = self.applied(connection)
            if applied is not None and applied.covers(target):
                return applied
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(pause, left))
            pause = min(pause * 2, _POLL_MOST)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def from_token(text: str) -> Position | None:
    """The position a token (`Position.token`) names; None when it names none we read."""
    family, _, value = text.partition(":")
    try:
        if family == "mariadb":
            return GtidPosition.parse(value)
        if family == "postgresql":
            return LsnPosition.parse(value)
    except ValueError:
        return None
    return UnknownPosition() if family == "unknown" else None


def token_of(position: Position) -> str:
    """The text that stands for `position` outside the process (e.g. in a web session)."""
    if isinstance(position, GtidPosition):
        return f"mariadb:{position}"
    if isinstance(position, LsnPosition):
        return f"postgresql:{position}"
    return "unknown:"


__all__ = [
    "GtidPosition",
    "LsnPosition",
    "Position",
    "Positions",
    "UnknownPosition",
    "from_token",
    "token_of",
]
