"""`/metrics`: 404 when metrics are off; the series when on; loopback or a bearer token."""

from __future__ import annotations

import pytest
from flask import Flask

from studyhall.app import create_app
from studyhall.db import metrics

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def metrics_app(world, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("STUDYHALL_METRICS", "1")
    monkeypatch.setenv("STUDYHALL_METRICS_TOKEN", "scrape-me")
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret"})
    yield app
    metrics.disable_metrics()


def test_metrics_is_a_404_when_off(client):
    assert not metrics.enabled()
    assert client.get("/metrics").status_code == 404


def test_metrics_serves_the_series_to_loopback(metrics_app):
    client = metrics_app.test_client()
    assert client.get("/").status_code in (200, 302)  # a page: at least one unit of work
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    body = response.get_data(as_text=True)
    for series in (
        "studyhall_db_pool_size",
        "studyhall_db_pool_checked_out",
        "studyhall_db_pool_overflow",
        'studyhall_db_units_total{outcome="commit"}',
        "studyhall_db_unit_retries_total",
        "studyhall_db_unit_conflicts_total",
        "studyhall_db_unit_seconds_bucket",
    ):
        assert series in body, series


def test_metrics_refuses_a_remote_client_without_the_token(metrics_app):
    client = metrics_app.test_client()
    assert client.get("/metrics", environ_base=REMOTE).status_code == 403
    wrong = {"Authorization": "Bearer guess"}
    assert client.get("/metrics", environ_base=REMOTE, headers=wrong).status_code == 403
    right = {"Authorization": "Bearer scrape-me"}
    assert client.get("/metrics", environ_base=REMOTE, headers=right).status_code == 200


def test_a_remote_client_is_refused_when_no_token_is_set(world, monkeypatch):
    monkeypatch.setenv("STUDYHALL_METRICS", "1")
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret"})
    try:
        response = app.test_client().get(
            "/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer "}
        )
        assert response.status_code == 403
    finally:
        metrics.disable_metrics()
