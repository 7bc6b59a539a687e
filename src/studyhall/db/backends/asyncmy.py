"""MySQL and MariaDB through asyncmy (the async engine's driver): an exact reset on return.

`TrackedAsyncmyConnection` knows whether it may hold a transaction, as PyMySQL's
`mysql.TrackedPyMySQLConnection` does, so the pool skips the ROLLBACK on check-in after a
unit of work that already committed (one round trip of every async unit on MariaDB).
asyncmy's own IN_TRANS status flag cannot decide it: it is clear after a plain SELECT
although the server holds a read snapshot. Without the package this module still
imports; `connect_args` then leaves the stock connect in place.
"""

from __future__ import annotations

from typing import Any

try:
    from asyncmy.connection import Connection as _AsyncmyConnection
except ImportError:  # optional: `pip install 'studyhall[async]'`
    _AsyncmyConnection = None  # type: ignore[assignment, misc]


class TrackedAsyncmyConnection(_AsyncmyConnection or object):  # type: ignore[misc]
    """An asyncmy connection that knows whether it may hold a transaction.

    Every statement sent through `query` (cursors and direct use alike) sets
    `may_hold_transaction`; only a COMMIT or ROLLBACK that succeeded clears it. With a
    statement cache (asyncmy's binary protocol, whose statements bypass `query`) it is
    never cleared: every return is reset, as with the stock connection.
    """

    may_hold_transaction = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tracks_every_statement = not kwargs.get("stmt_cache_size")

    async def query(self, sql: Any, unbuffered: bool = False) -> Any:
        self.may_hold_transaction = True
        return await super().query(sql, unbuffered)

    async def begin(self) -> None:
        self.may_hold_transaction = True
        await super().begin()

    async def commit(self) -> None:
        await super().commit()
        self.may_hold_transaction = not self._tracks_every_statement

    async def rollback(self) -> None:
        await super().rollback()
        self.may_hold_transaction = not self._tracks_every_statement


async def connect(**kwargs: Any) -> TrackedAsyncmyConnection:
    """asyncmy's `connect`, making a `TrackedAsyncmyConnection`."""
    connection = TrackedAsyncmyConnection(**kwargs)
    await connection.connect()
    return connection


def connect_args(base: dict[str, Any]) -> dict[str, Any]:
    """`base` with SQLAlchemy's `async_creator_fn` making tracked connections."""
    if _AsyncmyConnection is None:
        return base
    return {**base, "async_creator_fn": connect}


__all__ = ["TrackedAsyncmyConnection", "connect", "connect_args"]
