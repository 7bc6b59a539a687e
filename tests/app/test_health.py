"""`/healthz` and database outages: a 503 page (never a traceback), then recovery."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.test import TestResponse

from studyhall.app import create_app
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from tests.app.support import World, login
from tests.private_mariadb import private_mariadb

PRIVATE_PORT = 3331


def unreachable(settings: DatabaseSettings, tmp_path: Path) -> DatabaseSettings:
    """The same database behind a closed port (servers) or in a folder that cannot exist
    (SQLite: a file is in its way)."""
    if settings.backend == "sqlite":
        blocker = tmp_path / "gone"
        blocker.write_text("")
        url = settings.url.set(database=str(blocker / "studyhall.sqlite3"))
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
    client: FlaskClient, world: World, db_settings: DatabaseSettings, tmp_path: Path, backend: str
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
    body = health.get_json()
    assert body["status"] == "unavailable"
    latency = body["database"].pop("latency_ms")
    assert isinstance(latency, (int, float)) and latency >= 0
    assert body["database"] == {
        "backend": "mysql" if backend == "mariadb" else backend,
        "reachable": False,
        "error": "DatabaseUnavailableError",
    }
    assert login(client, "bob").status_code == 503

    switch_to(db_settings)
    assert client.get("/healthz").status_code == 200
    assert "Algebra 1" in client.get("/my_courses").get_data(as_text=True)


def test_healthz_answers_503_fast_while_the_server_hangs_with_every_connection_stuck() -> None:
    threads = 3
    with private_mariadb(PRIVATE_PORT) as server:
        # The pool keeps the default (long) read timeout: its connections stay stuck.
        # A request that queued for the pool would wait pool_timeout: /healthz must not.
        settings = DatabaseSettings(
            url=server.url,
            source="DATABASE_URL",
            pool_size=threads,
            max_overflow=0,
            pool_timeout=20,
        )
        DatabaseManager.initialize(settings)
        client = create_app({"TESTING": True, "SECRET_KEY": "test-secret"}).test_client()
        assert client.get("/healthz").status_code == 200

        every_connection_taken = threading.Barrier(threads + 1)

        def stuck_request() -> None:
            with DatabaseManager.get_session() as session:
                session.execute(text("SELECT 1"))
                every_connection_taken.wait()
                session.execute(text("SELECT SLEEP(0.5)"))  # sent to a frozen server

        workers = [threading.Thread(target=stuck_request) for _ in range(threads)]
        for worker in workers:
            worker.start()
        try:
            every_connection_taken.wait(timeout=30)
            server.pause()  # returns once every server thread is stopped
            assert DatabaseManager.database().engine.pool.checkedout() == threads

            answers: list[TestResponse] = []
            started = time.monotonic()
            probe = threading.Thread(target=lambda: answers.append(client.get("/healthz")))
            probe.daemon = True
            probe.start()
            probe.join(timeout=settings.pool_timeout)
            elapsed = time.monotonic() - started
            assert answers, f"/healthz did not answer in {elapsed:.1f} s: it waited for the pool"
            assert answers[0].status_code == 503
            assert answers[0].get_json()["database"]["reachable"] is False
        finally:
            server.resume()
            for worker in workers:
                worker.join(timeout=60)
        assert client.get("/healthz").status_code == 200
        DatabaseManager.cleanup()
