"""`/metrics`: the Prometheus series of studyhall.db.metrics, for a scraper.

On when `STUDYHALL_METRICS=1` (or after `enable_metrics()`); a 404 page otherwise. Only a
loopback client, or one sending `Authorization: Bearer <STUDYHALL_METRICS_TOKEN>`, may
read it (403 otherwise). Behind a reverse proxy on the same host every request comes
from loopback: there, block /metrics at the proxy or route the scraper to the app directly.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Flask, Response, abort, current_app, request

from studyhall.config import metrics_enabled, metrics_token
from studyhall.database import DatabaseManager
from studyhall.db import metrics

bp = Blueprint("metrics", __name__)
TOKEN_KEY = "studyhall.metrics_token"


def init_app(app: Flask) -> None:
    """Turn metrics on when the configuration says so, and serve /metrics."""
    if metrics_enabled():
        metrics.enable_metrics(pool=_pool)
    app.extensions[TOKEN_KEY] = metrics_token()
    app.register_blueprint(bp)


def _pool() -> object | None:
    database = DatabaseManager.database() if DatabaseManager.is_initialized() else None
    return None if database is None else database.engine.pool


@bp.get("/metrics")
def scrape() -> Response:
    body = metrics.exposition()
    if body is None:
        abort(404)
    if not (_from_loopback() or _has_token(current_app.extensions.get(TOKEN_KEY))):
        abort(403)
    return Response(body[0], content_type=body[1])


def _from_loopback() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _has_token(token: str | None) -> bool:
    if token is None:
        return False
    sent = request.headers.get("Authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


__all__ = ["bp", "init_app"]
