"""A few seconds of `benchmarks.soak`: the soak runs, kills and restarts its server, and
finds no violation (the full run is `python -m benchmarks.soak`)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from benchmarks import soak

from tests.conftest import REQUIRE_SERVERS


def test_a_short_soak_with_one_kill_finds_no_violation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not (Path(soak.MARIADBD).exists() and shutil.which("mariadb-install-db")):
        reason = "mariadbd and mariadb-install-db are not installed"
        if REQUIRE_SERVERS:
            pytest.fail(f"{reason}; STUDYHALL_REQUIRE_SERVERS=1 makes this a failure")
        pytest.skip(reason)

    code = soak.main(["--seconds", "4", "--threads", "3", "--kills", "1", "--seed", "9"])

    out = capsys.readouterr().out
    assert "kill -9 #1 at" in out, out
    assert "violations: 0" in out, out
    assert code == 0, out


def _call(kind: str, outcome: str, *units: tuple[int, int, bool]) -> soak.Call:
    return soak.Call(kind, [soak.Unit(*u) for u in units], outcome=outcome)


@pytest.mark.parametrize(
    ("call", "present", "violation"),
    [
        (_call("plain", "returned", (1, 3, True)), {1: 3}, None),
        (_call("plain", "returned", (1, 3, True)), {1: 2}, "half-written"),
        (_call("plain", "returned", (1, 3, True)), {}, "are missing"),
        (_call("plain", "unavailable", (1, 3, True)), {1: 3}, "yet units [1] committed"),
        (_call("plain", "commit unknown", (1, 3, True)), {}, None),
        (_call("plain", "commit unknown", (1, 3, True)), {1: 3}, None),
        (_call("nested (ok)", "commit unknown", (1, 2, True), (2, 1, True)), {1: 2},
         "only some of its units"),
        (_call("nested (raise)", "returned", (1, 2, True), (2, 2, False)), {1: 2, 2: 2},
         "must never commit"),
        (_call("swallowed (commit)", "returned", (1, 2, False)), {}, "returned normally"),
        (_call("swallowed (commit)", "rolled back", (1, 2, False)), {}, None),
    ],
)  # fmt: skip
def test_the_checks_catch_each_broken_promise(
    call: soak.Call, present: dict[int, int], violation: str | None
) -> None:
    report = soak.Report([call])
    soak.check_call(call, Counter(present), report)
    if violation is None:
        assert report.violations == []
    else:
        assert len(report.violations) == 1 and violation in report.violations[0]
