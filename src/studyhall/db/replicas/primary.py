"""Sessions on the primary that remember the position of their commits (read-your-writes).

A `PrimarySession` notes when it may have written: a flush, an INSERT / UPDATE / DELETE,
textual SQL, or a raw `connection()` (anything but a SELECT). After such a unit's COMMIT,
the commit's position is read on the same connection (one round trip) and becomes the
client's causal token (`causal.advance`). A unit that only read adds nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from studyhall.db.replicas.causal import advance
from studyhall.db.replicas.positions import Positions, UnknownPosition
from studyhall.db.session import StudyhallSession
from studyhall.log import get_logger

log = get_logger(__name__)

WROTE = "studyhall.replicas.wrote"
CONNECTION = "studyhall.replicas.connection"


class PrimarySession(StudyhallSession):
    """A StudyhallSession on the primary of a database with read replicas."""

    def get_bind(self, mapper: Any = None, **kw: Any) -> Engine | Connection:
        clause = kw.get("clause")
        if clause is None or not clause.is_select:
            self.info[WROTE] = True
        return super().get_bind(mapper, **kw)


@event.listens_for(PrimarySession, "after_begin")
def _remember_connection(session: Session, transaction: Any, connection: Connection) -> None:
    session.info[CONNECTION] = connection


@event.listens_for(PrimarySession, "after_commit")
def _capture_position(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction goes on
    info = session.info
    connection = info.pop(CONNECTION, None)
    if not info.pop(WROTE, False) or connection is None:
        return
    try:
        positions = Positions(connection.dialect.name)
        position = positions.after_commit(connection.connection.driver_connection)
    except Exception as exc:  # the commit stands; only its position is unknown
        log.warning(
            "Could not read the position of a commit on the primary (%s: %s); this "
            "client's reads go to the primary until its next commit.",
            type(exc).__name__,
            exc,
        )
        position = UnknownPosition()
    if position is not None:
        advance(position)


@event.listens_for(PrimarySession, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        info = session.info
        info.pop(WROTE, None)
        info.pop(CONNECTION, None)


__all__ = ["CONNECTION", "WROTE", "PrimarySession"]
