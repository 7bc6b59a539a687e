"""A small run of `benchmarks.job_chaos`: worker processes killed with -9 mid-work and
restarted leave every job done with its effect exactly once, for a leased kind and an
inline one (the full run is `python -m benchmarks.job_chaos --jobs 10000 --workers 4
--kills 20 [--inline]`)."""

from __future__ import annotations

import pytest
from benchmarks import job_chaos


@pytest.mark.parametrize("mode", [[], ["--inline"]], ids=["leased", "inline"])
def test_kills_lose_and_duplicate_nothing(
    backend: str, mode: list[str], capsys: pytest.CaptureFixture[str]
):
    code = job_chaos.main(
        [
            *mode,
            "--backend",
            backend,
            "--jobs",
            "200",
            "--workers",
            "2",
            "--kills",
            "2",
            "--seed",
            "5",
            "--timeout",
            "240",
            # Each run holds its transaction 50 ms: 200 jobs on 2 workers last ~5 s, longer
            # than a worker's warm-up before it may be killed (on a calm machine the default
            # 2 ms let the whole run end before any kill).
            "--sleep",
            "0.05",
        ]
    )

    out = capsys.readouterr().out
    assert "kill -9 #2 at" in out, out
    assert "done 200 of 200" in out, out
    assert "violations: 0" in out, out
    assert code == 0, out
