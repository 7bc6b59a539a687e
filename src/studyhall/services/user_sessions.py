"""Login sessions kept on the server: start, check, revoke, clean up.

A login stores a `UserSession` row keyed by the hash of a random token and hands the
token to the caller (the web app puts it in its signed cookie). `live_session` is the
check on every request: one SELECT by primary key, joined to the user's row so that a
deactivated account is signed out even when its rows were not revoked. Revoked and expired
rows stay refused until `prune_sessions` (or the owner's next login) deletes them.

Each function joins the active unit of work or opens its own (`@with_db_session`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, delete, or_, select, update

from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session
from studyhall.models import User, UserSession, hash_session_token, new_session_token
from studyhall.models.types import utcnow
from studyhall.models.user_session import ADDRESS_LENGTH, USER_AGENT_LENGTH

# How long a login lasts without a new one (Flask's own default for a permanent cookie).
SESSION_LIFETIME = timedelta(days=31)
# A session's `last_seen_at` is written at most this often: a write per request would put
# an UPDATE (and, on SQLite, the write lock) behind every page.
LAST_SEEN_INTERVAL = timedelta(minutes=5)
# Dead rows a login deletes of its user's, at most: the clean-up stays bounded.
LOGIN_CLEANUP_LIMIT = 100

# The tables, typed as such (`__table__` is typed as any FROM clause): Core statements
# skip the ORM's per-execution work on the hot path.
_sessions = UserSession.metadata.tables[UserSession.__tablename__]
_users = User.metadata.tables[User.__tablename__]


class LiveSession(NamedTuple):
    """A valid session as the per-request check reads it."""

    user_id: int
    last_seen_at: datetime


# Built once: the check runs on every request. Both lookups are by primary key.
_CHECK = (
    select(_sessions.c.user_id, _sessions.c.last_seen_at)
    .join(_users, _users.c.id == _sessions.c.user_id)
    .where(
        _sessions.c.id == bindparam("id"),
        _sessions.c.revoked_at.is_(None),
        _sessions.c.expires_at > bindparam("now"),
        _users.c.is_active.is_(True),
    )
)


@with_db_session
def start_session(
    user_id: int,
    *,
    user_agent: str | None = None,
    address: str | None = None,
    lifetime: timedelta = SESSION_LIFETIME,
) -> str:
    """Store a new session of `user_id` and return its token (only its hash is stored).

    Also deletes the user's revoked and expired sessions, up to LOGIN_CLEANUP_LIMIT.
    """
    session = get_current_session()
    now = utcnow()
    # Dead rows are found by a plain read and deleted by primary key: a DELETE by a
    # range of user_id would take gap locks on MariaDB, on which two logins of one
    # user at once could deadlock with their INSERTs.
    dead = list(
        session.scalars(
            select(_sessions.c.id)
            .where(
                _sessions.c.user_id == user_id,
                or_(_sessions.c.revoked_at.is_not(None), _sessions.c.expires_at <= now),
            )
            .limit(LOGIN_CLEANUP_LIMIT)
        )
    )
    if dead:
        session.execute(delete(_sessions).where(_sessions.c.id.in_(dead)))
    token = new_session_token()
    session.execute(
        _sessions.insert().values(
            id=hash_session_token(token),
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            user_agent=user_agent[:USER_AGENT_LENGTH] if user_agent else None,
            address=address[:ADDRESS_LENGTH] if address else None,
        )
    )
    return token


@with_db_session(read_only=True)
def live_session(token: str) -> LiveSession | None:
    """The user and last activity of the session with this token, or None when it does
    not exist, is revoked or expired, or its user is deactivated."""
    row = (
        get_current_session()
        .execute(_CHECK, {"id": hash_session_token(token), "now": utcnow()})
        .first()
    )
    return LiveSession(row[0], row[1]) if row is not None else None


@with_db_session
def touch_session(token: str) -> None:
    """Record that the session with this token was used now."""
    get_current_session().execute(
        update(_sessions)
        .where(_sessions.c.id == hash_session_token(token))
        .values(last_seen_at=utcnow())
    )


@with_db_session
def revoke_session(token: str) -> bool:
    """Revoke the session with this token; False when it was not live."""
    result = get_current_session().execute(
        update(_sessions)
        .where(_sessions.c.id == hash_session_token(token), _sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined, unused-ignore]


@with_db_session
def revoke_user_sessions(user_id: int, *, keep_token: str | None = None) -> int:
    """Revoke every live session of `user_id` but the one of `keep_token`; how many."""
    query = update(_sessions).where(
        _sessions.c.user_id == user_id, _sessions.c.revoked_at.is_(None)
    )
    if keep_token is not None:
        query = query.where(_sessions.c.id != hash_session_token(keep_token))
    result = get_current_session().execute(query.values(revoked_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined, unused-ignore]


@with_db_session
def prune_sessions(now: datetime | None = None) -> int:
    """Delete every revoked or expired session (as of `now`, default: now); how many."""
    moment = now or utcnow()
    result = get_current_session().execute(
        delete(_sessions).where(
            or_(_sessions.c.revoked_at.is_not(None), _sessions.c.expires_at <= moment)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined, unused-ignore]


__all__ = [
    "LAST_SEEN_INTERVAL",
    "LOGIN_CLEANUP_LIMIT",
    "SESSION_LIFETIME",
    "LiveSession",
    "prune_sessions",
    "revoke_session",
    "revoke_user_sessions",
    "live_session",
    "start_session",
    "touch_session",
]
