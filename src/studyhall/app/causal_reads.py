"""Read-your-writes across a web user's requests, with read replicas.

A request that commits leaves the commit's position as the thread's causal token
(`studyhall.db.replicas`); kept in the user's signed session, it makes the same user's
next read-only requests wait for a replica that has applied it (or read the primary), in
whichever server thread or process serves them. Nothing is registered without replicas.
"""

from __future__ import annotations

from flask import Flask, Response, g, session

from studyhall.db.engine import Database
from studyhall.db.replicas import causal_token, reset_causal_token, use_causal_token

# The session key of the user's causal token (a position, such as `mariadb:0-1-42`).
SESSION_KEY = "_causal"
_RESET = "studyhall_causal_reset"


def init_causal_reads(app: Flask, database: Database) -> None:
    """Keep the causal token in the user's session when `database` has read replicas."""
    if database.replicas is None:
        return
    app.before_request(_restore)
    app.after_request(_keep)
    app.teardown_request(_forget)


def _restore() -> None:
    setattr(g, _RESET, use_causal_token(session.get(SESSION_KEY)))


def _keep(response: Response) -> Response:
    token = causal_token()
    if token is not None and token != session.get(SESSION_KEY):
        session[SESSION_KEY] = token
    return response


def _forget(error: BaseException | None) -> None:
    reset = g.pop(_RESET, None)
    if reset is not None:
        reset_causal_token(reset)


__all__ = ["SESSION_KEY", "init_causal_reads"]
