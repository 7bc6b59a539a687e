"""`Database`: one engine and its session factory, built from settings.

`DatabaseManager` holds one of these for the process; tests build their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from studyhall.config import DatabaseSettings
from studyhall.db.backends import build_engine
from studyhall.db.session import StudyhallSession
from studyhall.db.transaction import Propagation, UnitOfWork


class Database:
    """An engine with the studyhall options and a factory of `StudyhallSession`s."""

    def __init__(self, settings: DatabaseSettings, **engine_overrides: Any) -> None:
        self.settings = settings
        self.engine: Engine = build_engine(settings, **engine_overrides)
        # Objects stay usable after their unit of work commits: views and services hand
        # them on after the session has closed.
        self.session_factory: sessionmaker[Session] = sessionmaker(
            self.engine, class_=StudyhallSession, expire_on_commit=False
        )

    def unit_of_work(
        self,
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> UnitOfWork:
        """A context manager yielding the session of a unit of work (see UnitOfWork)."""
        return UnitOfWork(
            self.session_factory, propagation, read_only=read_only, isolation_level=isolation_level
        )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.settings.masked_url!r})"


__all__ = [
    "Database",
]
