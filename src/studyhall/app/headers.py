"""Headers on every response: no framing by other sites, no caching of personal pages.

A framed page's one-click buttons (end or cancel a study session, sign out) could be
clicked by a visitor who sees only the other site: the CSRF token does not stop that.
A signed-in page left in the browser's cache could be shown again after sign-out, on a
shared computer, with the back button.
"""

from __future__ import annotations

from flask import Flask, request, session
from werkzeug.wrappers import Response

NO_FRAMING = {
    "X-Frame-Options": "DENY",  # older browsers
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def protect(response: Response) -> Response:
    for name, value in NO_FRAMING.items():
        response.headers.setdefault(name, value)
    if "user_id" in session or request.endpoint == "auth.logout":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_headers(app: Flask) -> None:
    app.after_request(protect)


__all__ = [
    "NO_FRAMING",
    "init_headers",
    "protect",
]
