"""The site's icon at /favicon.ico, where browsers and crawlers look for it unasked.

Pages name the SVG in a `<link rel="icon">`; the same file answers /favicon.ico, so the
request that a client makes without reading the page is not a 404 in every log.
"""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory
from werkzeug.wrappers import Response

ICON = "favicon.svg"
# A day: the icon seldom changes, and it is fetched on every first visit otherwise.
MAX_AGE = 24 * 3600

bp = Blueprint("favicon", __name__)


@bp.get("/favicon.ico")
def favicon() -> Response:
    assert current_app.static_folder is not None  # the app serves /static
    return send_from_directory(
        current_app.static_folder, ICON, mimetype="image/svg+xml", max_age=MAX_AGE
    )


__all__ = ["ICON", "MAX_AGE", "bp", "favicon"]
