"""`/healthz` and database outages: a 503 page (never a traceback), then recovery."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

from flask.testing import FlaskClient

from studyhall.database import DatabaseManager
from studyhall.database.config import DatabaseSettings
from tests.app.support import World, login


def unreachable(settings: DatabaseSettings, tmp_path: Path) -> DatabaseSettings:
    """The same database behind a closed port (servers) or in a missing folder (SQLite)."""
    if settings.backend == "sqlite":
        url = settings.url.set(database=str(tmp_path / "gone" / "studyhall.sqlite3"))
    else:
        with socket.socket() as probe:  # a port nothing listens on once this closes
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = settings.url.set(host="127.0.0.1", port=port)
    return dataclasses.replace(settings, url=url, connect_timeout=2)


def switch_to(settings: DatabaseSettings) -> None:
    DatabaseManager.cleanup()
    DatabaseManager.initialize(settings)


def test_healthz_reports_reachability_and_latency(client: FlaskClient, backend: str) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["database"]["backend"] == ("mysql" if backend == "mariadb" else backend)
    assert 0 <= body["database"]["latency_ms"] < 5000
    assert response.headers["Cache-Control"] == "no-store"


def test_an_outage_is_a_503_page_and_the_app_recovers(
    client: FlaskClient, world: World, db_settings: DatabaseSettings, tmp_path: Path
) -> None:
    assert login(client, "alice").status_code == 302
    switch_to(unreachable(db_settings, tmp_path))

    page = client.get("/my_courses")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "30"
    text = page.get_data(as_text=True)
    assert "Temporarily unavailable" in text and "Traceback" not in text
    assert str(db_settings.url.port or "sqlite3") not in text  # no connection details
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["database"] == {
        "backend": health.get_json()["database"]["backend"],
        "reachable": False,
        "error": "DatabaseUnavailableError",
        "latency_ms": health.get_json()["database"]["latency_ms"],
    }
    assert login(client, "bob").status_code == 503

    switch_to(db_settings)
    assert client.get("/healthz").status_code == 200
    assert "Algebra 1" in client.get("/my_courses").get_data(as_text=True)
