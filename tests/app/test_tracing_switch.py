"""The app turns OpenTelemetry tracing on when STUDYHALL_TRACING says so, and only then."""

from __future__ import annotations

import pytest

from studyhall.app import create_app
from studyhall.db import tracing


def test_the_app_does_not_trace_by_default(app):
    assert not tracing.enabled()


def test_the_app_traces_when_configured(world, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STUDYHALL_TRACING", "1")
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "test-secret"})
        assert tracing.enabled()
        assert app.test_client().get("/").status_code in (200, 302)
    finally:
        tracing.disable_tracing()
