"""Read replicas: read-only units of work on replicas, read-your-writes, failing replicas.

`ReplicaSet` is what a `Database` with `DatabaseSettings.replicas` holds: the replicas'
rotation and probe (`health`), the factory that routes read-only units (`router`), and
the session class of the primary that records each commit's position (`primary`). The
client's causal token is in `causal`; positions per backend in `positions`.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from studyhall.config import DatabaseSettings
from studyhall.db.replicas.causal import causal_token, reset_causal_token, use_causal_token
from studyhall.db.replicas.failures import failed_on_replica
from studyhall.db.replicas.health import Replica, Rotation, RotationEvent
from studyhall.db.replicas.primary import PrimarySession
from studyhall.db.replicas.router import ReadSessions


class ReplicaSet:
    """The replicas of one Database, and the session factory of its read-only units."""

    def __init__(self, settings: DatabaseSettings, primary: sessionmaker[Session]) -> None:
        replicas = settings.replicas
        assert replicas is not None
        self.rotation = Rotation(settings)
        self.reads = ReadSessions(self.rotation, primary, replicas.wait_ms / 1000)

    @property
    def replicas(self) -> list[Replica]:
        return self.rotation.replicas

    def counts(self) -> dict[str, int]:
        """How many read-only units went where (see `router`), since the start."""
        with self.reads._lock:
            return dict(self.reads.counts)

    def dispose(self) -> None:
        self.rotation.dispose()


__all__ = [
    "PrimarySession",
    "Replica",
    "ReplicaSet",
    "RotationEvent",
    "causal_token",
    "failed_on_replica",
    "reset_causal_token",
    "use_causal_token",
]
