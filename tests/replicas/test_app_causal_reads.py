"""The web user's causal token travels in their signed session: after a request that
wrote, the same user's next request reads its write although every replica is paused;
another user's request is served by a replica (and reads the old value)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import URL

from studyhall.app.causal_reads import SESSION_KEY, init_causal_reads
from studyhall.config import DatabaseSettings
from studyhall.database import get_current_session, with_db_session
from studyhall.db.engine import Database
from studyhall.db.replicas import causal_token
from tests.replicas.conftest import Replicated


@pytest.mark.replica_options(wait_ms=50, max_lag_ms=60_000)
def test_the_token_round_trips_through_the_user_session(replicated: Replicated) -> None:
    table = replicated.table
    app = Flask(__name__)
    app.secret_key = "test-only-key"
    init_causal_reads(app, replicated.database)

    @app.post("/value/<int:value>")
    @with_db_session
    def write(value: int) -> str:
        get_current_session().execute(text(f"UPDATE {table} SET value = {value} WHERE id = 1"))
        return "ok"

    @app.get("/value")
    @with_db_session(read_only=True)
    def read() -> dict[str, int]:
        session = get_current_session()
        value = session.execute(text(f"SELECT value FROM {table} WHERE id = 1")).scalar()
        return {"value": int(value or 0), "port": replicated.port(session)}

    writer, other = app.test_client(), app.test_client()
    assert other.get("/value").json["value"] == 0
    pause = replicated.replication.applying_paused
    with pause(replicated.backend, 0), pause(replicated.backend, 1):
        assert writer.post("/value/7").status_code == 200
        assert causal_token() is None  # the request's token ended with it...
        with writer.session_transaction() as session:
            kept = session[SESSION_KEY]  # ... and lives on in the user's session
        assert kept.startswith(f"{replicated.backend}:")
        mine, theirs = writer.get("/value").json, other.get("/value").json
    assert mine == {"value": 7, "port": replicated.primary_port}  # no replica had it
    assert theirs["value"] == 0 and theirs["port"] in replicated.replica_ports
    replicated.replication.wait_caught_up(replicated.backend)
    assert writer.get("/value").json["port"] in replicated.replica_ports  # applied now


def test_nothing_is_kept_without_replicas() -> None:
    database = Database(DatabaseSettings(url=URL.create("sqlite+pysqlite", database=":memory:")))
    app = Flask(__name__)
    init_causal_reads(app, database)
    assert app.before_request_funcs == {} and app.after_request_funcs == {}
    database.dispose()
