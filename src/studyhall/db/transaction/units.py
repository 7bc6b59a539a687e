"""`SessionContext` (the owner of a unit of work) and `UnitOfWork` (propagation).

The owner makes its session current, and on exit rolls back (on an exception, or when the
unit was marked rollback-only) or commits, then closes. A joined call or nested unit is a
non-owner: it may neither commit nor roll back; when it raises, the unit it joined (its
innermost savepoint scope, else the whole unit) is marked rollback-only, and from then on
the session refuses every statement until that scope's boundary exits.
"""

from __future__ import annotations

import sys
import time
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from studyhall.db import metrics, tracing
from studyhall.db.backends.pooling import PING_ON_CHECKOUT
from studyhall.db.backends.sqlite import IMMEDIATE_BEGIN
from studyhall.db.session import (
    BROKEN,
    DEPTH,
    READ_ONLY,
    check_sync_use,
    descends_from,
    mark_broken,
    opened_in_this_process,
    rolled_back_message,
)
from studyhall.db.slow_statements import unit_owner
from studyhall.db.spare_sessions import keep_for_reuse
from studyhall.db.transaction.callbacks import run_ready_callbacks
from studyhall.db.transaction.context import active_session, current_session
from studyhall.errors import (
    CommitOutcomeUnknownError,
    ConfigurationError,
    DatabaseUnavailableError,
    NoActiveSessionError,
    SessionError,
    TransactionRolledBackError,
)

Propagation = Literal["required", "requires_new", "nested", "mandatory"]
PROPAGATIONS: tuple[str, ...] = ("required", "requires_new", "nested", "mandatory")
SCOPES = "studyhall.savepoint_scopes"

_JOIN, _SAVEPOINT, _OWN = 1, 2, 3

COMMIT_UNKNOWN_MESSAGE = (
    "COMMIT was sent but the connection was lost before the server answered, so this unit "
    "of work may or may not have been committed. Do not simply run it again: first check "
    "whether its changes are in the database (read back the rows it wrote), then redo it "
    "only if they are not."
)


@dataclass(eq=False)
class SavepointScope:
    """A `propagation='nested'` unit: its savepoint, and whether a call inside it failed."""

    savepoint: SessionTransaction
    failed: bool = False


def check_propagation(propagation: str) -> None:
    """Raise ConfigurationError for an unknown propagation name."""
    if propagation not in PROPAGATIONS:
        raise ConfigurationError(
            f"Unknown propagation {propagation!r}; use one of: {', '.join(PROPAGATIONS)}."
        )


def fail_joined(session: Session, error: BaseException | None) -> None:
    """Mark what a failed joined call belongs to rollback-only: its savepoint scope, else
    the whole unit. Nothing is rolled back yet: the scope's boundary does that."""
    scopes: list[SavepointScope] | None = session.info.get(SCOPES)
    if scopes:
        scope = scopes[-1]
        scope.failed = True
        mark_broken(session, scope, error)
    else:
        mark_broken(session, None, error)


def _rollback_to(session: Session, savepoint: SessionTransaction) -> None:
    # Not `is_active`: a failed flush rolls back to the savepoint but leaves it open and
    # inactive, and until it is rolled back (closed) every later statement of the outer
    # unit raises PendingRollbackError.
    if not descends_from(session.get_nested_transaction(), savepoint):
        return
    try:
        savepoint.rollback()
    except Exception as exc:
        # The savepoint is gone: the server rolled back the whole transaction (a MySQL
        # deadlock does) or the connection is lost. The outer unit's work went with it,
        # so it must not go on to commit the rest.
        mark_broken(session, None, exc)


def commit_as_owner(session: Session) -> None:
    """Flush, then COMMIT; a COMMIT whose reply was lost raises CommitOutcomeUnknownError."""
    if not session._is_clean():
        session.flush()  # a failure here is definite: nothing was committed
    try:
        Session.commit(session)
    except DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, DatabaseUnavailableError):
            raise CommitOutcomeUnknownError(COMMIT_UNKNOWN_MESSAGE) from exc
        raise


class SessionContext:
    """Own `session` for a `with` block: make it current, commit or roll back, close.

    On exit: commit when `auto_commit` and no exception; roll back on any exception,
    `BaseException` included, and when an inner call marked the unit rollback-only
    (then raise TransactionRolledBackError); always close the session and restore the
    previous one. The rollback-only mark ends here, with the transaction.
    """

    __slots__ = ("session", "auto_commit", "_token", "_begin_token")

    def __init__(self, session: Session, *, auto_commit: bool = True) -> None:
        self.session = session
        self.auto_commit = auto_commit
        self._token: Token[Session | None] | None = None
        self._begin_token: Token[bool] | None = None

    def __enter__(self) -> Session:
        if self._token is not None:
            raise SessionError(
                "This SessionContext is already active; open a new one for each `with` block."
            )
        session = self.session
        # SQLite: a unit that may write takes the write lock at BEGIN (IMMEDIATE), so
        # waiting writers queue on the busy timeout; a read-only one begins deferred.
        immediate = not session.info.get(READ_ONLY)
        if immediate is not IMMEDIATE_BEGIN.get():
            self._begin_token = IMMEDIATE_BEGIN.set(immediate)
        self._token = current_session.set(session)
        return session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        token, self._token = self._token, None
        if not opened_in_this_process(session):
            # A forked child leaving its parent's block: the connection is the parent's,
            # so not a byte may be sent on it. Forget the session.
            self._restore(token)
            return
        info = session.info
        mark = info.pop(BROKEN, None) if info else None
        closed = False
        try:
            if exc_type is not None:
                Session.rollback(session)
            elif mark is not None:
                Session.rollback(session)
                raise TransactionRolledBackError(rolled_back_message(mark[1])) from mark[1]
            elif self.auto_commit:
                commit_as_owner(session)
        finally:
            try:
                if info:
                    info.pop(DEPTH, None)
                    info.pop(SCOPES, None)
                session.close()
                closed = True
            finally:
                self._restore(token)
                if session.info:
                    run_ready_callbacks(session)
                if closed:
                    keep_for_reuse(session)

    def _restore(self, token: Token[Session | None] | None) -> None:
        if token is not None:
            current_session.reset(token)
        begin_token, self._begin_token = self._begin_token, None
        if begin_token is not None:
            IMMEDIATE_BEGIN.reset(begin_token)


class UnitOfWork:
    """Context manager yielding the session of a unit of work, by propagation:

    - `required` (default): join the active unit of work, or open one;
    - `requires_new`: always a new session on its own connection, committed or rolled
      back on its own; the outer session is current again afterwards;
    - `nested`: a SAVEPOINT in the active transaction (or a new unit when none is
      active); an exception, or a failed call inside, undoes it to the savepoint only;
    - `mandatory`: join the active unit of work; raise when there is none.
    """

    __slots__ = (
        "session_factory",
        "propagation",
        "read_only",
        "isolation_level",
        "_mode",
        "_session",
        "_context",
        "_scope",
        "_made_read_only",
        "owner",
        "_owner_token",
        "_started",
        "_span",
        "retries",
    )

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        propagation: Propagation = "required",
        *,
        read_only: bool = False,
        isolation_level: str | None = None,
    ) -> None:
        check_propagation(propagation)
        self.session_factory = session_factory
        self.propagation = propagation
        self.read_only = read_only
        self.isolation_level = isolation_level
        self._mode = 0
        self._session: Session | None = None
        self._context: SessionContext | None = None
        self._scope: SavepointScope | None = None
        self._made_read_only = False
        # The owner's name for the slow-statement log; None: the code that enters the unit.
        self.owner: str | None = None
        self._owner_token: Token[str | None] | None = None
        self._started = 0.0
        self._span: object = None
        # How many times the owner ran before this run (set by `retries=N`), for tracing.
        self.retries = 0

    def __enter__(self) -> Session:
        current = active_session()
        propagation = self.propagation
        if current is not None and getattr(current, "runs_async", False):
            check_sync_use(current, propagation)
        if current is not None and propagation in ("required", "mandatory"):
            self._mode, self._session = _JOIN, current
            self._enter_read_only(current)
            _enter_non_owner(current)
            return current
        if propagation == "mandatory":
            raise NoActiveSessionError(
                "propagation='mandatory' needs an active unit of work, and there is none. "
                "Call this inside `with DatabaseManager.get_session():` or a "
                "`@with_db_session` function."
            )
        if current is not None and propagation == "nested":
            mark = current.info.get(BROKEN)
            if mark is not None:
                raise TransactionRolledBackError(rolled_back_message(mark[1])) from mark[1]
            scope = SavepointScope(current.begin_nested())
            current.info.setdefault(SCOPES, []).append(scope)
            self._mode, self._session, self._scope = _SAVEPOINT, current, scope
            self._enter_read_only(current)
            _enter_non_owner(current)
            return current
        return self._open()

    def _enter_read_only(self, session: Session) -> None:
        # A read-only call joining a writable unit of work makes it read-only while the
        # call runs: the promise is about what the call may do, wherever it runs.
        if self.read_only and not session.info.get(READ_ONLY):
            session.info[READ_ONLY] = True
            self._made_read_only = True

    def _open(self) -> Session:
        owner = self.owner
        if owner is None:
            # Called by __enter__, called by the code with the `with` statement.
            frame = sys._getframe(2)
            owner = f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname}"
        # Read, not called: with metrics off a unit makes no call into them.
        self._started = time.perf_counter() if metrics.on else 0.0
        session = self.session_factory()
        if self.read_only:
            session.info[READ_ONLY] = True
        context = SessionContext(session)
        context.__enter__()
        self._owner_token = unit_owner.set(owner)
        self._mode, self._session, self._context = _OWN, session, context
        if tracing.on:
            self._span = tracing.start_unit(owner, self.session_factory.kw.get("bind"))
        if self.isolation_level is not None:
            # The level is set before any statement, where a dead connection could not be
            # replaced: ping it on checkout whatever the bypass window says.
            ping = PING_ON_CHECKOUT.set(True)
            try:
                session.connection(execution_options={"isolation_level": self.isolation_level})
            except BaseException as exc:
                self._exit_owner(context, type(exc), exc, exc.__traceback__)
                raise
            finally:
                PING_ON_CHECKOUT.reset(ping)
        return session

    def _exit_owner(
        self,
        context: SessionContext,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raised = exc
        try:
            context.__exit__(exc_type, exc, tb)
        except BaseException as error:
            raised = error
            raise
        finally:
            if self._started:
                metrics.record_unit(self._started, raised)
            span, self._span = self._span, None
            if span is not None:
                tracing.end_unit(span, raised, self.retries)
            token, self._owner_token = self._owner_token, None
            if token is not None:
                unit_owner.reset(token)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mode, session = self._mode, self._session
        self._mode, self._session = 0, None
        assert session is not None
        if mode != _OWN:
            if not opened_in_this_process(session):
                return  # a forked child: the transaction and its connection are the parent's
            session.info[DEPTH] -= 1
        if self._made_read_only:
            self._made_read_only = False
            try:
                if exc_type is None and session.info.get(BROKEN) is None:
                    session.flush()  # refuses what the read-only call left pending
            except BaseException as error:
                session.info.pop(READ_ONLY, None)
                self._finish(mode, session, type(error), error)
                raise
            session.info.pop(READ_ONLY, None)
        self._finish(mode, session, exc_type, exc, tb)

    def _finish(
        self,
        mode: int,
        session: Session,
        exc_type: type[BaseException] | None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if mode == _OWN:
            context, self._context = self._context, None
            assert context is not None
            self._exit_owner(context, exc_type, exc, tb)
        elif mode == _SAVEPOINT:
            scope, self._scope = self._scope, None
            assert scope is not None
            _end_savepoint(session, scope, exc)
        elif exc_type is not None:
            fail_joined(session, exc)


def _enter_non_owner(session: Session) -> None:
    info = session.info
    info[DEPTH] = info.get(DEPTH, 0) + 1


def _end_savepoint(session: Session, scope: SavepointScope, raised: BaseException | None) -> None:
    info = session.info
    info[SCOPES].remove(scope)
    mark = info.get(BROKEN)
    if mark is not None and mark[0] is scope:
        del info[BROKEN]  # the scope's mark ends with the scope
    elif mark is not None:
        # The whole unit is rolled back already; the savepoint went with it.
        if raised is None:
            raise TransactionRolledBackError(rolled_back_message(mark[1])) from mark[1]
        return
    savepoint = scope.savepoint
    # An open but inactive savepoint: a flush failed inside and the caller caught it.
    still_open = descends_from(session.get_nested_transaction(), savepoint)
    if raised is not None or scope.failed or (not savepoint.is_active and still_open):
        _rollback_to(session, savepoint)
        if raised is None:
            first = mark[1] if mark is not None else None
            raise TransactionRolledBackError(
                "A call inside this nested unit of work failed, so the nested unit was "
                f"rolled back to its savepoint (the outer unit goes on). {_first(first)}"
                "Let the exception propagate to the `propagation='nested'` boundary "
                "instead of catching it inside."
            ) from first
    elif savepoint.is_active:
        try:
            session.flush()
        except Exception:
            _rollback_to(session, savepoint)
            raise
        try:
            savepoint.commit()
        except Exception as exc:
            # RELEASE failed: the savepoint is gone, and the outer unit's work with it.
            mark_broken(session, None, exc)
            raise


def _first(error: BaseException | None) -> str:
    return f"It failed first with {type(error).__name__}: {error}. " if error else ""


__all__ = [
    "COMMIT_UNKNOWN_MESSAGE",
    "PROPAGATIONS",
    "Propagation",
    "SCOPES",
    "SavepointScope",
    "SessionContext",
    "UnitOfWork",
    "check_propagation",
    "commit_as_owner",
    "fail_joined",
]
