"""`/healthz`: whether the database answers, and how fast. For load balancers and monitors.

The check opens its own short-timeout connection (no pool): it answers within about
`PROBE_TIMEOUT` seconds even when the server hangs and every pooled connection is stuck
on it, or the pool is exhausted by busy requests.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

from flask import Blueprint
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from studyhall.database import DatabaseManager
from studyhall.db.backends import build_probe_engine
from studyhall.db.engine import Database
from studyhall.errors import StudyhallError
from studyhall.log import get_logger

log = get_logger(__name__)
bp = Blueprint("health", __name__)

# One probe engine per Database, built on first use and dropped with it.
_probes: weakref.WeakKeyDictionary[Database, Engine] = weakref.WeakKeyDictionary()
_probes_lock = threading.Lock()


def _probe_engine(database: Database) -> Engine:
    engine = _probes.get(database)
    if engine is None:
        with _probes_lock:
            engine = _probes.get(database)
            if engine is None:
                engine = _probes[database] = build_probe_engine(database.settings)
    return engine


def _ping(database: Database) -> None:
    with _probe_engine(database).connect() as conn:
        conn.exec_driver_sql("SELECT 1")


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int, dict[str, str]]:
    started = time.perf_counter()
    db = DatabaseManager.database()
    database: dict[str, Any] = {"backend": db.settings.backend}
    try:
        _ping(db)
    except (SQLAlchemyError, StudyhallError, OSError) as error:
        # Any failure of the probe means the database cannot serve requests now.
        log.warning("Health check: database unreachable: %s", error)
        database.update(reachable=False, error=type(error).__name__)
        status, code = "unavailable", 503
    else:
        database["reachable"] = True
        status, code = "ok", 200
    database["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return {"status": status, "database": database}, code, {"Cache-Control": "no-store"}


__all__ = [
    "bp",
    "healthz",
]
