"""The seed's public API: `DatabaseManager`, `@with_db_session`, the current session.

The implementation lives in `studyhall.db` (engine, sessions, units of work, schema) and
`studyhall.database.setup` (`DatabaseManager`, which adds tables and sample data); every
error a caller may catch is exported here, as is `DatabaseSettings`.
"""

from studyhall.config import DatabaseSettings
from studyhall.database.decorators import with_db_session
from studyhall.database.session_context import (
    SessionContext,
    get_current_async_session,
    get_current_session,
    has_active_async_session,
    has_active_session,
    set_current_session,
)
from studyhall.database.setup import DatabaseManager
from studyhall.db.background import submit_with_session
from studyhall.db.transaction import on_commit
from studyhall.errors import (
    AccessDeniedError,
    AsyncContextError,
    CommitOutcomeUnknownError,
    ConfigurationError,
    ConflictError,
    CrossThreadSessionError,
    DatabasePermissionError,
    DatabaseStatementError,
    DatabaseUnavailableError,
    DataConflictError,
    LeaseLostError,
    LoginRefusedError,
    MigrationError,
    NoActiveSessionError,
    PoolExhaustedError,
    ReadOnlyTransactionError,
    SchemaError,
    SessionError,
    StudyhallError,
    TransactionRolledBackError,
    UnsafeOperationError,
)
from studyhall.models.errors import InvalidCursorError, InvalidFilterError, ModelError

__all__ = [
    "AccessDeniedError",
    "AsyncContextError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConflictError",
    "CrossThreadSessionError",
    "DataConflictError",
    "DatabaseManager",
    "DatabasePermissionError",
    "DatabaseSettings",
    "DatabaseStatementError",
    "DatabaseUnavailableError",
    "InvalidCursorError",
    "InvalidFilterError",
    "LeaseLostError",
    "LoginRefusedError",
    "MigrationError",
    "ModelError",
    "NoActiveSessionError",
    "PoolExhaustedError",
    "ReadOnlyTransactionError",
    "SchemaError",
    "SessionContext",
    "SessionError",
    "StudyhallError",
    "TransactionRolledBackError",
    "UnsafeOperationError",
    "get_current_async_session",
    "get_current_session",
    "has_active_async_session",
    "has_active_session",
    "on_commit",
    "set_current_session",
    "submit_with_session",
    "with_db_session",
]
