"""The database layer: configuration, engine, sessions, schema and sample data."""

from studyhall.database.background import submit_with_session
from studyhall.database.decorators import with_db_session
from studyhall.database.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    StudyhallError,
    UnsafeOperationError,
)
from studyhall.database.session_context import (
    SessionContext,
    get_current_session,
    has_active_session,
    set_current_session,
)
from studyhall.database.setup import DatabaseManager
from studyhall.database.transaction import on_commit

__all__ = [
    "ConfigurationError",
    "DatabaseManager",
    "DatabaseUnavailableError",
    "SessionContext",
    "StudyhallError",
    "UnsafeOperationError",
    "get_current_session",
    "has_active_session",
    "on_commit",
    "set_current_session",
    "submit_with_session",
    "with_db_session",
]
