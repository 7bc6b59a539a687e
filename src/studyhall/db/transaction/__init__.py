"""The unit of work: everything about transactions, in one package.

Semantics (Django's `transaction.atomic` and Spring's propagation are the models):

- One ContextVar holds the current unit of work's session (`context`); tokens are reset
  in `finally`, so nested scopes restore the outer one.
- `UnitOfWork` opens or joins a unit by propagation (`required`, `requires_new`,
  `nested`, `mandatory`); `SessionContext` is its owner: only the owner commits, rolls
  back and closes (`units`).
- A joined call that raises marks its unit (or the innermost nested unit) rollback-only:
  from then on every statement, flush, commit and rollback in it raises
  `TransactionRolledBackError` until the scope's boundary exits, which rolls back and
  raises. The mark lives with the transaction, never with the Session object.
- A COMMIT whose reply was lost raises `CommitOutcomeUnknownError`; it is never retried.
- `on_commit(callback)` runs after the outermost real COMMIT (`callbacks`).
- `run_in_unit` is the engine of `@with_db_session`: the joined fast path and retries
  (`runner`).
"""

from studyhall.db.transaction.callbacks import on_commit
from studyhall.db.transaction.context import (
    NO_SESSION_MESSAGE,
    active_session,
    get_current_session,
    has_active_session,
    reset_current_session,
    set_current_session,
)
from studyhall.db.transaction.runner import run_in_unit
from studyhall.db.transaction.units import (
    Propagation,
    SessionContext,
    UnitOfWork,
    check_propagation,
)

__all__ = [
    "NO_SESSION_MESSAGE",
    "Propagation",
    "SessionContext",
    "UnitOfWork",
    "active_session",
    "check_propagation",
    "get_current_session",
    "has_active_session",
    "on_commit",
    "reset_current_session",
    "run_in_unit",
    "set_current_session",
]
