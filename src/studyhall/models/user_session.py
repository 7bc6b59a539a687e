"""Server-side login sessions: one row per signed-in browser, revocable at any time.

The browser's cookie holds a random token; the row's primary key is the SHA-256 of that
token, so whoever reads the table (a backup, a leaked dump) still cannot present a
session. A request is signed in only while its row exists, is not revoked, has not
expired, and its user is active: logout, "sign out everywhere", a password change and a
deactivation revoke rows, and the cookie stops working at once, wherever it was copied.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from studyhall.models.base import Base
from studyhall.models.types import utcnow

if TYPE_CHECKING:
    from studyhall.models.user import User

# 32 random bytes: 256 bits, beyond guessing; URL-safe text of 43 characters.
TOKEN_BYTES = 32
TOKEN_HASH_LENGTH = 64  # hex SHA-256
USER_AGENT_LENGTH = 255
ADDRESS_LENGTH = 45  # the longest textual IPv6 address (IPv4-mapped)


def new_session_token() -> str:
    """A fresh random token for a cookie; store only `hash_session_token()` of it."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_session_token(token: str) -> str:
    """The key of a token's row. A plain SHA-256 is enough: the token is random, not a
    password, so there is nothing to guess from the hash and no need to slow it down."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class UserSession(Base):
    """A login of one user in one browser, until `expires_at` or until revoked.

    CASCADE: a user's sessions go with the user.
    """

    __tablename__ = "user_sessions"
    __secret_fields__ = frozenset({"id"})
    __repr_fields__ = ("user_id", "expires_at", "revoked_at")

    # The SHA-256 of the cookie's token, never the token itself.
    id: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Indexed for the clean-up, which deletes every row past it.
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))
    address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))

    user: Mapped[User] = relationship()


__all__ = [
    "ADDRESS_LENGTH",
    "TOKEN_BYTES",
    "TOKEN_HASH_LENGTH",
    "USER_AGENT_LENGTH",
    "UserSession",
    "hash_session_token",
    "new_session_token",
]
