"""The database core: engine and backends, sessions, units of work, schema. Knows no model.

`Database` is one engine with its session factory; `default` holds the process's one;
`with_db_session` and `transaction` run code in units of work.
"""

from studyhall.db.decorators import with_db_session
from studyhall.db.engine import Database
from studyhall.db.transaction import (
    SessionContext,
    UnitOfWork,
    get_current_session,
    has_active_session,
    on_commit,
)

__all__ = [
    "Database",
    "SessionContext",
    "UnitOfWork",
    "get_current_session",
    "has_active_session",
    "on_commit",
    "with_db_session",
]
