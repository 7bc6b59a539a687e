"""Fixtures for the job queue: a throwaway database with the tables, the tests' effects
table and handlers, and worker processes (`studyhall-db worker`) on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from studyhall.db.engine import Database
from tests.jobs import handlers

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def jobs_db(tables: Database) -> Database:
    """A database with every studyhall table and `job_effects`; the tests' handlers loaded."""
    handlers.metadata.create_all(tables.engine)
    gates = [*handlers.GATES.values(), *handlers.AT_GATES.values()]
    for event in [*gates, handlers.INLINE_GATE, handlers.INLINE_AT_GATE]:
        event.clear()
    return tables


class WorkerProcesses:
    """`studyhall-db worker` processes on the test's database, stopped at the end."""

    def __init__(self, database: Database, log_dir: Path) -> None:
        self.url = database.settings.url.render_as_string(hide_password=False)
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "PYTHONPATH": str(REPO),
            "LOG_LEVEL": "INFO",
        }
        log = open(self.log_dir / f"worker-{len(self.started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "studyhall.cli",
                "worker",
                "--import",
                "tests.jobs.handlers",
                *args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(process)
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        return (self.log_dir / f"worker-{self.started.index(process)}.log").read_text()

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(30)


@pytest.fixture
def worker_processes(jobs_db: Database, tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(jobs_db, tmp_path)
    yield processes
    processes.stop_all()
