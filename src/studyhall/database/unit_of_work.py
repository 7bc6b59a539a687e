"""`UnitOfWork`: how a `with` block or a decorated call gets its session.

Propagation, as in Spring and Django:
- `required` (default): join the active unit of work, or open one;
- `requires_new`: always a new session on its own connection, committed or rolled back
  on its own; the outer session is current again afterwards;
- `nested`: a SAVEPOINT in the active transaction (or a new unit when none is active);
  an exception rolls back to the savepoint only;
- `mandatory`: join the active unit of work; raise when there is none.

A joined call that raises rolls back the unit it joined (the innermost savepoint scope,
else the whole transaction) even if an outer caller catches the exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from studyhall.database.errors import (
    ConfigurationError,
    NoActiveSessionError,
    TransactionRolledBackError,
)
from studyhall.database.session import READ_ONLY, descends_from
from studyhall.database.session_context import (
    SessionContext,
    active_session,
    mark_rollback_only,
)

Propagation = Literal["required", "requires_new", "nested", "mandatory"]
PROPAGATIONS: tuple[str, ...] = ("required", "requires_new", "nested", "mandatory")
SCOPES = "studyhall.savepoint_scopes"

_JOIN, _SAVEPOINT, _OWN = 1, 2, 3


@dataclass(eq=False)
class _SavepointScope:
    savepoint: SessionTransaction
    failed: bool = False


def check_propagation(propagation: str) -> None:
    """Raise ConfigurationError for an unknown propagation name."""
    if propagation not in PROPAGATIONS:
        raise ConfigurationError(
            f"Unknown propagation {propagation!r}; use one of: {', '.join(PROPAGATIONS)}."
        )


def fail_joined(session: Session) -> None:
    """Roll back what a failed joined call belongs to: its savepoint scope, else everything."""
    scopes: list[_SavepointScope] | None = session.info.get(SCOPES)
    if scopes:
        scope = scopes[-1]
        scope.failed = True
        _rollback_to(session, scope.savepoint)
    else:
        mark_rollback_only(session)


def _rollback_to(session: Session, savepoint: SessionTransaction) -> None:
    # Not `is_active`: a failed flush rolls back to the savepoint but leaves it open and
    # inactive, and until it is rolled back (closed) every later statement of the outer
    # unit raises PendingRollbackError.
    if not descends_from(session.get_nested_transaction(), savepoint):
        return
    try:
        savepoint.rollback()
    except Exception:
        # The savepoint is gone: the server rolled back the whole transaction (a MySQL
        # deadlock does) or the connection is lost. The outer unit's work went with it,
        # so it must not go on to commit the rest.
        mark_rollback_only(session)


class UnitOfWork:
    """Context manager yielding the session of a unit of work; see the module docstring."""

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
        self._scope: _SavepointScope | None = None
        self._made_read_only = False

    def __enter__(self) -> Session:
        current = active_session()
        propagation = self.propagation
        if current is not None and propagation in ("required", "mandatory"):
            self._mode, self._session = _JOIN, current
            self._enter_read_only(current)
            return current
        if propagation == "mandatory":
            raise NoActiveSessionError(
                "propagation='mandatory' needs an active unit of work, and there is none. "
                "Call this inside `with DatabaseManager.get_session():` or a "
                "`@with_db_session` function."
            )
        if current is not None and propagation == "nested":
            scope = _SavepointScope(current.begin_nested())
            current.info.setdefault(SCOPES, []).append(scope)
            self._mode, self._session, self._scope = _SAVEPOINT, current, scope
            self._enter_read_only(current)
            return current
        return self._open()

    def _enter_read_only(self, session: Session) -> None:
        # A read-only call joining a writable unit of work makes it read-only while the
        # call runs: the promise is about what the call may do, wherever it runs.
        if self.read_only and not session.info.get(READ_ONLY):
            session.info[READ_ONLY] = True
            self._made_read_only = True

    def _open(self) -> Session:
        session = self.session_factory()
        if self.read_only:
            session.info[READ_ONLY] = True
        context = SessionContext(session)
        context.__enter__()
        self._mode, self._session, self._context = _OWN, session, context
        if self.isolation_level is not None:
            try:
                session.connection(execution_options={"isolation_level": self.isolation_level})
            except BaseException as exc:
                context.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mode, session = self._mode, self._session
        self._mode, self._session = 0, None
        assert session is not None
        if self._made_read_only:
            self._made_read_only = False
            try:
                if exc_type is None:
                    session.flush()  # refuses what the read-only call left pending
            except BaseException as error:
                session.info.pop(READ_ONLY, None)
                self._finish(mode, session, type(error))
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
            context.__exit__(exc_type, exc, tb)
        elif mode == _SAVEPOINT:
            scope, self._scope = self._scope, None
            assert scope is not None
            self._end_savepoint(session, scope, exc_type is not None)
        elif exc_type is not None:
            fail_joined(session)

    @staticmethod
    def _end_savepoint(session: Session, scope: _SavepointScope, raised: bool) -> None:
        scopes: list[_SavepointScope] = session.info[SCOPES]
        scopes.remove(scope)
        savepoint = scope.savepoint
        # An open but inactive savepoint: a flush failed inside and the caller caught it.
        still_open = descends_from(session.get_nested_transaction(), savepoint)
        if raised or scope.failed or (not savepoint.is_active and still_open):
            _rollback_to(session, savepoint)
            if not raised:
                raise TransactionRolledBackError(
                    "A call inside this nested unit of work raised, so the unit was rolled "
                    "back to its savepoint. Let the exception propagate to the "
                    "`propagation='nested'` boundary instead of catching it inside."
                )
        elif savepoint.is_active:
            try:
                session.flush()
            except Exception:
                _rollback_to(session, savepoint)
                raise
            try:
                savepoint.commit()
            except Exception:
                # RELEASE failed: the savepoint is gone, and the outer unit's work with it.
                mark_rollback_only(session)
                raise
