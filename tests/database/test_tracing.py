"""OpenTelemetry spans of units of work and their statements (studyhall.db.tracing)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from studyhall.config import tracing_enabled
from studyhall.database import DatabaseManager, get_current_session, with_db_session
from studyhall.db import metrics, tracing
from studyhall.errors import ConfigurationError

UNIT = "studyhall.unit "


class _Deadlock(Exception):
    """Looks like MySQL's deadlock error (1213) to the conflict classifier."""

    def __init__(self) -> None:
        super().__init__(1213, "Deadlock found when trying to get lock")


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def spans(database):
    provider, exporter = _provider()
    tracing.enable_tracing(tracer_provider=provider)
    yield exporter
    tracing.disable_tracing()


def unit_spans(exporter):
    return [s for s in exporter.get_finished_spans() if s.name.startswith(UNIT)]


def children(exporter, parent):
    return [
        s
        for s in exporter.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def statement_spans(exporter, parent, sql):
    return [
        s
        for s in children(exporter, parent)
        if s.kind is SpanKind.CLIENT and sql in str(s.attributes.get("db.statement", ""))
    ]


@with_db_session
def read_one() -> None:
    get_current_session().execute(text("SELECT 1"))


def test_a_unit_is_a_span_with_its_statements_as_children(spans, database):
    read_one()
    [unit] = unit_spans(spans)
    assert unit.name == f"{UNIT}{__name__}.read_one"
    assert unit.attributes["studyhall.unit.outcome"] == "commit"
    assert unit.attributes["studyhall.unit.retries"] == 0
    assert unit.attributes["db.system"] == database.engine.dialect.name
    assert unit.status.status_code is not StatusCode.ERROR
    [statement] = statement_spans(spans, unit, "SELECT 1")
    assert statement.attributes["db.system"]  # the official instrumentation's attributes
    assert unit.start_time <= statement.start_time <= statement.end_time <= unit.end_time


def test_a_rolled_back_unit_says_so(spans):
    with pytest.raises(ValueError), DatabaseManager.get_session() as session:
        session.execute(text("SELECT 2"))
        raise ValueError("boom")
    [unit] = unit_spans(spans)
    assert unit.name.endswith("test_a_rolled_back_unit_says_so")  # the code with the `with`
    assert unit.attributes["studyhall.unit.outcome"] == "rollback"
    assert unit.attributes["error.type"] == "ValueError"
    assert unit.status.status_code is StatusCode.ERROR
    assert statement_spans(spans, unit, "SELECT 2")


def test_each_attempt_of_a_retried_unit_is_a_span(spans):
    calls = []

    @with_db_session(retries=2)
    def flaky() -> None:
        calls.append(1)
        get_current_session().execute(text("SELECT 3"))
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, _Deadlock())

    flaky()
    first, second = sorted(unit_spans(spans), key=lambda s: s.start_time)
    assert first.attributes["studyhall.unit.outcome"] == "rollback"
    assert first.attributes["studyhall.unit.conflict"] is True
    assert first.attributes["studyhall.unit.retries"] == 0
    assert second.attributes["studyhall.unit.outcome"] == "commit"
    assert second.attributes["studyhall.unit.retries"] == 1


def test_joined_calls_are_no_span_and_a_requires_new_unit_is_a_child(spans):
    # Read-only: on SQLite a second writer would wait for the first's lock.
    @with_db_session(propagation="requires_new", read_only=True)
    def audit() -> None:
        get_current_session().execute(text("SELECT 4"))

    @with_db_session(read_only=True)
    def outer() -> None:
        read_one()  # joins: no span of its own
        audit()

    outer()
    units = {s.name.rsplit(".", 1)[-1]: s for s in unit_spans(spans)}
    assert sorted(units) == ["audit", "outer"]
    assert units["audit"].parent.span_id == units["outer"].context.span_id
    assert statement_spans(spans, units["outer"], "SELECT 1")
    assert statement_spans(spans, units["audit"], "SELECT 4")


def test_an_engine_built_while_tracing_is_on_is_traced(spans, db_settings):
    DatabaseManager.cleanup()
    DatabaseManager.initialize(db_settings)
    read_one()
    [unit] = unit_spans(spans)
    assert statement_spans(spans, unit, "SELECT 1")


def test_nothing_is_recorded_when_off(database):
    provider, exporter = _provider()
    tracing.enable_tracing(tracer_provider=provider)
    tracing.disable_tracing()
    assert not tracing.enabled()
    read_one()
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 5"))
    assert exporter.get_finished_spans() == ()


def test_nothing_of_tracing_or_metrics_is_called_in_a_unit_when_both_are_off(database):
    # Off means off: a unit reads two flags and calls nothing in either module.
    watched = {tracing.__file__, metrics.__file__}
    calls = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename in watched:
            calls.append(frame.f_code.co_name)

    read_one()  # warm: connection open, pool idle
    sys.setprofile(profile)
    try:
        read_one()
    finally:
        sys.setprofile(None)
    assert calls == []


def test_the_library_works_without_opentelemetry():
    # A fresh interpreter where opentelemetry cannot be imported.
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from studyhall.db import tracing\n"
        "from studyhall.errors import ConfigurationError\n"
        "import studyhall.app\n"
        "assert not tracing.available() and not tracing.enabled()\n"
        "try:\n    tracing.enable_tracing()\nexcept ConfigurationError as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "studyhall[tracing]" in result.stdout


@pytest.mark.parametrize(
    ("raw", "expected"), [("", False), ("0", False), ("off", False), ("1", True), ("on", True)]
)
def test_studyhall_tracing_switch(raw, expected):
    assert tracing_enabled({"STUDYHALL_TRACING": raw}) is expected
    assert tracing_enabled({}) is False


def test_a_bad_studyhall_tracing_value_is_an_error():
    with pytest.raises(ConfigurationError, match="STUDYHALL_TRACING='maybe'"):
        tracing_enabled({"STUDYHALL_TRACING": "maybe"})
