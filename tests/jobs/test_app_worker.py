"""The web app's in-process worker (STUDYHALL_INPROCESS_WORKER=1, for development): a job
enqueued by a request's unit of work runs in the app's own process, no worker started."""

from __future__ import annotations

import pytest

from studyhall.app import WORKER_EXTENSION, create_app
from studyhall.config import inprocess_worker_enabled
from studyhall.database import DatabaseManager
from studyhall.errors import ConfigurationError
from studyhall.jobs import enqueue
from studyhall.models import Job, JobStatus
from tests.jobs.test_processes import wait_for


def status_of(database, job_id):
    with database.unit_of_work() as session:
        return session.get(Job, job_id).status


def test_the_switch_runs_jobs_in_the_app_process(jobs_db, monkeypatch):
    monkeypatch.setenv("STUDYHALL_INPROCESS_WORKER", "1")
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret"})
    worker = app.extensions[WORKER_EXTENSION]
    try:
        with DatabaseManager.get_session():
            job_id = enqueue("noop", {})
        wait_for(lambda: status_of(jobs_db, job_id) is JobStatus.DONE, timeout=10)
    finally:
        assert worker.stop(30)


def test_without_the_switch_the_app_runs_no_jobs(jobs_db):
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret"})
    assert WORKER_EXTENSION not in app.extensions


@pytest.mark.parametrize(
    ("raw", "expected"), [("", False), ("0", False), ("off", False), ("1", True), ("yes", True)]
)
def test_the_switch_is_read_like_the_others(raw, expected):
    assert inprocess_worker_enabled({"STUDYHALL_INPROCESS_WORKER": raw}) is expected


def test_a_value_that_is_not_a_switch_says_what_to_set():
    with pytest.raises(ConfigurationError, match="STUDYHALL_INPROCESS_WORKER='maybe'"):
        inprocess_worker_enabled({"STUDYHALL_INPROCESS_WORKER": "maybe"})
