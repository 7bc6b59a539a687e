"""OpenTelemetry spans of units of work and their statements (studyhall.db.tracing)."""

from __future__ import annotations

import pytest

from studyhall.config import tracing_enabled
from studyhall.errors import ConfigurationError


@pytest.mark.parametrize(
    ("raw", "expected"), [("", False), ("0", False), ("off", False), ("1", True), ("on", True)]
)
def test_studyhall_tracing_switch(raw, expected):
    assert tracing_enabled({"STUDYHALL_TRACING": raw}) is expected
    assert tracing_enabled({}) is False


def test_a_bad_studyhall_tracing_value_is_an_error():
    with pytest.raises(ConfigurationError, match="STUDYHALL_TRACING='maybe'"):
        tracing_enabled({"STUDYHALL_TRACING": "maybe"})
