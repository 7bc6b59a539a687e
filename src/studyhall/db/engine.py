"""`Database`: one engine and its session factory, built from settings.

`DatabaseManager` holds one of these for the process; tests build their own.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from studyhall.config import DatabaseSettings
from studyhall.db.aio import AsyncDatabase
from studyhall.db.backends import build_engine
from studyhall.db.replicas import PrimarySession, ReplicaSet
from studyhall.db.session import StudyhallSession
from studyhall.db.spare_sessions import ReusingSessionmaker
from studyhall.db.transaction import Propagation, UnitOfWork
from studyhall.errors import SessionError

OTHER_THREAD_MESSAGE = (
    "This Database is bound to one connection (a test's transaction, see "
    "`Database.bound_to`), and a connection serves one thread; this unit of work was "
    "opened in another thread. Test code that runs units of work in other threads against "
    "a database with real commits (a throwaway database) instead of inside the rolled-back "
    "transaction."
)


class Database:
    """An engine with the studyhall options and a factory of `StudyhallSession`s."""

    def __init__(self, settings: DatabaseSettings, **engine_overrides: Any) -> None:
        self.settings = settings
        self.engine: Engine = build_engine(settings, **engine_overrides)
        # Objects stay usable after their unit of work commits: views and services hand
        # them on after the session has closed. With replicas, the primary's sessions
        # record the position of each commit that wrote (read-your-writes).
        self.session_factory: sessionmaker[Session] = ReusingSessionmaker(
            self.engine,
            class_=StudyhallSession if settings.replicas is None else PrimarySession,
            expire_on_commit=False,
        )
        # Read replicas (DATABASE_REPLICA_URLS): where read-only units of work run.
        self.replicas: ReplicaSet | None = None
        if settings.replicas is not None:
            self.replicas = ReplicaSet(settings, self.session_factory)
        # The async flavour, one per event loop: asyncio connections belong to their loop.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncDatabase] = (
            weakref.WeakKeyDictionary()
        )
        self._async_lock = threading.Lock()

    def async_database(self) -> AsyncDatabase:
        """The async engine and sessions on the same settings, for the running event loop.

        Built on first use in each loop; `await dispose_async()` closes its connections
        before the loop ends (an ASGI app's shutdown, the end of `asyncio.run`'s coroutine).
        """
        loop = asyncio.get_running_loop()
        found = self._async.get(loop)
        if found is None:
            with self._async_lock:
                found = self._async.get(loop)
                if found is None:
                    found = self._async[loop] = AsyncDatabase(self.settings)
        return found

    async def dispose_async(self) -> None:
        """Close the running loop's async connections; the next async unit opens new ones."""
        found = self._async.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found.dispose()

    def unit_of_work(
        self,
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> UnitOfWork:
        """A context manager yielding the session of a unit of work (see UnitOfWork).

        With read replicas, a read-only unit that opens its own session runs on a replica
        (`studyhall.db.replicas.router`); every other unit runs on the primary.
        """
        factory = self.session_factory
        if read_only and self.replicas is not None:
            factory = self.replicas.reads
        return UnitOfWork(
            factory, propagation, read_only=read_only, isolation_level=isolation_level
        )

    def bound_to(self, connection: Connection) -> Database:
        """A Database on the same settings and engine whose sessions all run on `connection`.

        For tests: begin a transaction on a connection of this engine, make the bound
        Database the default (`studyhall.db.default.using`), and roll the transaction back
        at the end. Every unit of work then runs inside a SAVEPOINT of that transaction
        (SQLAlchemy's `join_transaction_mode="create_savepoint"`): its COMMIT releases the
        savepoint, its rollback returns to it. What one connection cannot do:

        - `requires_new` is a savepoint inside the unit around it: it commits on its own
          and is seen at once, but a unit around it that rolls back afterwards undoes it;
        - `isolation_level` is ignored: the transaction is begun already;
        - only the thread that bound it may open units of work (SessionError otherwise).
        """
        return _BoundDatabase(self, connection)

    def dispose(self) -> None:
        """Close every pooled connection of the sync engine; forget the async engines.

        The async engines' connections can only be closed in their own loop
        (`dispose_async`); those left are dropped without a word sent on them.
        """
        self.engine.dispose()
        if self.replicas is not None:
            self.replicas.dispose()
        with self._async_lock:
            left = list(self._async.values())
            self._async.clear()
        for database in left:
            database.engine.sync_engine.dispose(close=False)

    def __repr__(self) -> str:
        return f"Database({self.settings.masked_url!r})"


class _ConnectionSessions(sessionmaker[Session]):
    """Sessions on one connection, each in a SAVEPOINT of the transaction begun on it."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(
            bind=connection,
            class_=StudyhallSession,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
        )
        self.thread = threading.get_ident()

    def __call__(self, **local_kw: Any) -> Session:
        if threading.get_ident() != self.thread:
            raise SessionError(OTHER_THREAD_MESSAGE)
        session = super().__call__(**local_kw)
        # The SAVEPOINT now, not at the first statement: savepoints on one connection
        # form a stack, so units must take theirs in the order they open. A requires_new
        # unit used before the unit around it would otherwise take the lower savepoint,
        # and its RELEASE would take the outer unit's savepoint with it.
        session.connection()
        return session


class _BoundDatabase(Database):
    """A Database whose sessions all run on one connection: see `Database.bound_to`."""

    def __init__(self, database: Database, connection: Connection) -> None:
        # Not Database.__init__: the engine is `database`'s, not a new one.
        self.settings = database.settings
        self.engine = database.engine
        self.connection = connection
        self.replicas = None  # one connection: every unit runs on it
        self.session_factory = _ConnectionSessions(connection)

    def unit_of_work(
        self,
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> UnitOfWork:
        """A unit of work on the bound connection; `isolation_level` is ignored (the
        connection's transaction is begun already, and its level cannot change)."""
        return super().unit_of_work(propagation, read_only=read_only)

    def async_database(self) -> AsyncDatabase:
        """Refused: an async unit cannot run on the bound (sync) connection."""
        raise SessionError(
            "This Database is bound to one connection (a test's transaction), which async "
            "units of work cannot share. Test async code against a throwaway database."
        )

    def dispose(self) -> None:
        """Nothing: the engine and the connection belong to the caller."""

    def __repr__(self) -> str:
        return f"Database({self.settings.masked_url!r}, bound to one connection)"


__all__ = [
    "Database",
]
