"""OpenTelemetry spans of the data layer: one per unit of work, one per statement. Off by default.

On with `STUDYHALL_TRACING=1` (the app calls `enable_tracing()` then) or by calling
`enable_tracing(tracer_provider=None)` yourself. Needs the `tracing` extra
(opentelemetry-api, -sdk and -instrumentation-sqlalchemy); without it the library works as
before and `enable_tracing()` raises ConfigurationError.

- A span `studyhall.unit <owner>` for each owner unit of work (the `@with_db_session`
  function, or the code that opened `get_session()`), from opening to commit or rollback,
  with `db.system`, `studyhall.unit.outcome` (`commit` or `rollback`),
  `studyhall.unit.retries` (the runs before this one), and on a rollback `error.type`, the
  exception and `studyhall.unit.conflict`. Joined calls add no span; a `requires_new` unit
  is a child of the unit around it, a unit a child of whatever span is current (a request's).
- Statement spans (and a `connect` span per checkout) from the official instrumentation,
  `SQLAlchemyInstrumentor`, on every engine studyhall builds: children of their unit's span.
  They carry the SQL with placeholders, never parameter values.

Spans go to `tracer_provider`, or to the global one (`trace.set_tracer_provider`, or what
`opentelemetry-instrument` sets up): set up a provider and an exporter there, or nothing
is exported. With tracing off the unit of work reads `on` and calls nothing here, and no
engine event listener is added.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Engine

from studyhall.db.error_translation import is_conflict
from studyhall.errors import ConfigurationError

try:
    from opentelemetry import context, trace
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    _AVAILABLE = True
except ImportError:  # the `tracing` extra is not installed: tracing stays off
    _AVAILABLE = False

# True while units of work are traced. The unit of work reads it (no call) and calls in
# here only when it is True.
on = False
_tracer: Any = None
_provider: Any = None
# Every engine studyhall built, so that turning tracing on traces those built before.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def available() -> bool:
    """Whether the OpenTelemetry packages of the `tracing` extra are installed."""
    return _AVAILABLE


def enabled() -> bool:
    return on


def enable_tracing(tracer_provider: Any = None) -> None:
    """Trace units of work and the statements of every studyhall engine, built before or
    after, into `tracer_provider` (default: the global one). Calling it again with the same
    provider does nothing; with another one, spans go there from then on."""
    global on, _tracer, _provider
    if not _AVAILABLE:
        raise ConfigurationError(
            "Tracing needs OpenTelemetry: install studyhall[tracing] (opentelemetry-api, "
            "opentelemetry-sdk, opentelemetry-instrumentation-sqlalchemy), or unset "
            "STUDYHALL_TRACING."
        )
    if on and _provider is tracer_provider:
        return
    _provider = tracer_provider
    _tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
    _instrument()
    on = True


def disable_tracing() -> None:
    """Stop tracing: no more unit spans, and the statement listeners are removed."""
    global on, _tracer, _provider
    on, _tracer, _provider = False, None, None
    if _AVAILABLE:
        instrumentor = SQLAlchemyInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def track_engine(engine: Engine) -> None:
    """Called for every engine studyhall builds: its statements are traced while tracing
    is on."""
    _engines.add(engine)
    if on:
        _instrument()


def _instrument() -> None:
    # The instrumentor is one per process and instruments once: to add an engine, undo
    # and instrument every live engine again (engines are built rarely).
    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(
        engines=list(_engines),
        tracer_provider=_provider,
        # Its releases declare SQLAlchemy < 2.1: without this it logs an error and
        # instruments nothing on 2.1, on which studyhall's tracing tests pass.
        skip_dep_check=True,
    )


def start_unit(owner: str, bind: Any) -> Any:
    """Open the span of an owner unit of work on `bind` and make it current; the state to
    give `end_unit`, or None when tracing is off."""
    tracer = _tracer
    if tracer is None:
        return None
    system = getattr(getattr(bind, "dialect", None), "name", None)
    span = tracer.start_span(
        f"studyhall.unit {owner}",
        kind=SpanKind.INTERNAL,
        attributes={"db.system": system} if system else None,
    )
    return span, context.attach(trace.set_span_in_context(span))


def end_unit(state: Any, error: BaseException | None, retries: int) -> None:
    """End the span `start_unit` opened: committed, or rolled back raising `error`."""
    span, token = state
    try:
        if error is None:
            span.set_attributes(
                {"studyhall.unit.outcome": "commit", "studyhall.unit.retries": retries}
            )
        else:
            cause = error.__cause__
            name = type(error).__qualname__
            span.set_attributes(
                {
                    "studyhall.unit.outcome": "rollback",
                    "studyhall.unit.retries": retries,
                    "studyhall.unit.conflict": is_conflict(error)
                    or (cause is not None and is_conflict(cause)),
                    "error.type": name,
                }
            )
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, name))
        span.end()
    finally:
        context.detach(token)


__all__ = [
    "available",
    "disable_tracing",
    "enable_tracing",
    "enabled",
    "end_unit",
    "on",
    "start_unit",
    "track_engine",
]
