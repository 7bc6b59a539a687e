"""An async_sessionmaker that gives an async unit of work an AsyncSession that a finished
unit closed, instead of building one: the async side of `studyhall.db.spare_sessions`,
whose rules it follows (a session is handed out again only when nothing can tell).

An AsyncSession is two objects to build (itself and its StudyhallSession, with its
identity map, transaction bookkeeping and registry entries), a share of a short async
unit's CPU worth saving. Spares are kept per thread (an event loop's), a few at a time:
after `async with ... as session:` the caller's variable still holds that session while
the next unit opens, so the next unit takes another spare.

A spare is taken only when nothing else holds it or its StudyhallSession (no variable,
object, copied context or weak reference beyond SQLAlchemy's own), and kept only when it
is closed, empty and has the attributes and settings it was built with; `info` starts
empty, listeners added to the session alone are dropped, and the owner task is the taker's.
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from studyhall.db.session import StudyhallSession, restamp_owner
from studyhall.db.spare_sessions import as_built, reset_for_reuse

# Where a session built for reuse keeps its factory, attribute names and settings.
_HOME = "_studyhall_home"
# Attributes SQLAlchemy sets on an AsyncSession after building it: the bind translation
# map, memoized from binds that the sync session's settings check covers.
_LAZY_ATTRIBUTES = frozenset({"_translate_binds"})
# Spares kept per thread at most (beyond that a closed session is left to the collector).
_KEPT = 8


def _references(spare: AsyncSession) -> tuple[int, int, int, int]:
    sync = spare.sync_session
    return (
        sys.getrefcount(spare),
        weakref.getweakrefcount(spare),
        sys.getrefcount(sync),
        weakref.getweakrefcount(sync),
    )


# The references to a spare held by nothing but the spare list (and to its sync session,
# held twice by the AsyncSession), SQLAlchemy's weak ones included: read off a throwaway
# session in the same position, since they differ across SQLAlchemy releases.
_probe = [AsyncSession()]
_UNHELD = _references(_probe[0])
del _probe


class ReusingAsyncSessionmaker(async_sessionmaker[AsyncSession]):
    """An async_sessionmaker of AsyncSessions over StudyhallSessions that reuses, per
    thread, those closed by async units of work (see the module docstring). A call with
    arguments always builds anew."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._spares = threading.local()

    def __call__(self, **local_kw: Any) -> AsyncSession:
        if not local_kw:
            spares: list[AsyncSession] | None = self._spares.__dict__.get("list")
            if spares:
                for index in range(len(spares) - 1, -1, -1):
                    if _references(spares[index]) == _UNHELD:
                        spare = spares.pop(index)
                        restamp_owner(spare.sync_session)
                        return spare
        session = super().__call__(**local_kw)
        sync = session.sync_session
        if not local_kw and isinstance(sync, StudyhallSession):
            sync.runs_async = True
            state = vars(session)
            state[_HOME] = (self, frozenset(state) | {_HOME}, *as_built(sync))
        return session

    def keep(
        self,
        session: AsyncSession,
        attributes: frozenset[str],
        sync_attributes: frozenset[str],
        settings: tuple[Any, ...],
    ) -> None:
        """Keep the closed `session` for this thread's next async units, if unchanged."""
        if vars(session).keys() - attributes <= _LAZY_ATTRIBUTES and reset_for_reuse(
            session.sync_session, sync_attributes, settings
        ):
            spares = self._spares.__dict__.setdefault("list", [])
            if len(spares) < _KEPT:
                spares.append(session)


def keep_for_reuse(session: AsyncSession) -> None:
    """Offer a session its async unit of work has just closed to the factory that built it."""
    home = vars(session).get(_HOME)
    if home is not None:
        factory, attributes, sync_attributes, settings = home
        factory.keep(session, attributes, sync_attributes, settings)


__all__ = ["ReusingAsyncSessionmaker", "keep_for_reuse"]
