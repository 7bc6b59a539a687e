"""`/healthz`: whether the database answers, and how fast. For load balancers and monitors."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint
from sqlalchemy import text

from studyhall.app.errors import OUTAGE_ERRORS
from studyhall.database import DatabaseManager, with_db_session
from studyhall.database.session_context import get_current_session
from studyhall.utils.logger import get_logger

log = get_logger(__name__)
bp = Blueprint("health", __name__)


@with_db_session(read_only=True)
def _ping() -> None:
    get_current_session().execute(text("SELECT 1"))


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int, dict[str, str]]:
    started = time.perf_counter()
    database: dict[str, Any] = {"backend": DatabaseManager.database().settings.backend}
    try:
        _ping()
    except OUTAGE_ERRORS as error:
        log.warning("Health check: database unreachable: %s", error)
        database.update(reachable=False, error=type(error).__name__)
        status, code = "unavailable", 503
    else:
        database["reachable"] = True
        status, code = "ok", 200
    database["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return {"status": status, "database": database}, code, {"Cache-Control": "no-store"}
