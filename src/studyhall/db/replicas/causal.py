"""The client's read-your-writes token: the position of its last commit on the primary.

Kept in a `ContextVar`, so it follows the thread (or asyncio task) that committed. A web
app keeps it across a user's requests in their session: `causal_token()` at the end of a
request gives the text to store, `use_causal_token(text)` at the start of the next one
restores it (and returns the ContextVar token to `reset` it with).
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from studyhall.db.replicas.positions import Position, from_token, token_of

CAUSAL: ContextVar[Position | None] = ContextVar("studyhall.causal_position", default=None)


def advance(position: Position) -> None:
    """Record a commit at `position` (after any earlier one of this client)."""
    current = CAUSAL.get()
    CAUSAL.set(position if current is None else current.merged(position))


def causal_token() -> str | None:
    """The client's token as text, or None when it has committed nothing that we know of."""
    position = CAUSAL.get()
    return None if position is None else token_of(position)


def use_causal_token(text: str | None) -> Token[Position | None]:
    """Make `text` (from `causal_token()`, e.g. kept in a web session) the client's token;
    text that names no position (tampered with, or from another backend) counts as none.
    Returns the ContextVar token for `reset_causal_token`."""
    return CAUSAL.set(from_token(text) if text else None)


def reset_causal_token(token: Token[Position | None]) -> None:
    """Restore the token that was current before `use_causal_token`."""
    CAUSAL.reset(token)


__all__ = ["CAUSAL", "advance", "causal_token", "reset_causal_token", "use_causal_token"]
