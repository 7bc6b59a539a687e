"""Headers on every response that forbid other sites to frame our pages.

A framed page's one-click buttons (end or cancel a study session, sign out) could be
clicked by a visitor who sees only the other site: the CSRF token does not stop that.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.wrappers import Response

NO_FRAMING = {
    "X-Frame-Options": "DENY",  # older browsers
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def forbid_framing(response: Response) -> Response:
    for name, value in NO_FRAMING.items():
        response.headers.setdefault(name, value)
    return response


def init_headers(app: Flask) -> None:
    app.after_request(forbid_framing)
