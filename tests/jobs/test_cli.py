"""`studyhall-db jobs`: counts by kind and status, and `--retry-dead` to queue dead ones again."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from studyhall.cli import commands as cli
from studyhall.database import DatabaseManager
from studyhall.db import default
from studyhall.jobs import enqueue, job_counts
from studyhall.models import Job, JobStatus
from studyhall.models.types import utcnow


@pytest.fixture
def cli_db(jobs_db, monkeypatch):
    """`jobs_db` in DATABASE_URL, for the command to initialize the manager with; the
    command's clean-up leaves `jobs_db`'s own pool to be disposed here."""
    monkeypatch.setenv("DATABASE_URL", jobs_db.settings.url.render_as_string(hide_password=False))
    DatabaseManager.cleanup()
    yield jobs_db
    jobs_db.dispose()


def run(*args):
    return CliRunner().invoke(cli.main, list(args))


def make_dead(database, job_id, error="RuntimeError: boom"):
    with database.unit_of_work() as session:
        job = session.get(Job, job_id)
        job.status, job.attempts, job.last_error, job.finished_at = (
            JobStatus.DEAD,
            job.max_attempts,
            error,
            utcnow(),
        )


def test_counts_by_kind_and_status_and_retry_dead(cli_db):
    jobs_db = cli_db
    with jobs_db.unit_of_work():
        enqueue("reply", {})
        enqueue("reply", {})
        dead = enqueue("evaluate", {})
        enqueue("evaluate", {})
    make_dead(jobs_db, dead)

    with default.using(jobs_db):
        counts = job_counts()
    assert counts == {
        ("evaluate", JobStatus.DEAD): 1,
        ("evaluate", JobStatus.QUEUED): 1,
        ("reply", JobStatus.QUEUED): 2,
    }
    result = run("jobs")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["kind", "queued", "running", "done", "dead"]
    assert lines[1].split() == ["evaluate", "1", "0", "0", "1"]
    assert lines[2].split() == ["reply", "2", "0", "0", "0"]

    result = run("jobs", "--retry-dead")
    assert result.exit_code == 0, result.output
    assert "1 dead job queued again" in result.output
    with jobs_db.unit_of_work() as session:
        again = session.get(Job, dead)
    assert again.status is JobStatus.QUEUED and again.attempts == 0
    assert again.last_error == "RuntimeError: boom"  # kept for the record
    assert again.finished_at is None


def test_no_jobs_says_so(cli_db):
    result = run("jobs")
    assert result.exit_code == 0, result.output
    assert "no jobs" in result.output
