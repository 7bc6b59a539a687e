"""Worker processes (`studyhall-db worker`): a worker killed with -9 mid-job leaves a job
that another runs once its lease expires, with its effect once; SIGTERM lets the current
job finish; an idle worker wakes within 300 ms of a commit, on every backend."""

from __future__ import annotations

import random
import signal
import statistics
import time
from pathlib import Path

from studyhall.database import DatabaseManager
from studyhall.jobs import Worker, enqueue
from studyhall.models import Job, JobStatus
from tests.jobs.handlers import effect_counts

WAKE_BOUND = 0.300


def wait_for(condition, timeout=30.0, step=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")


def status_of(database, job_id):
    with database.unit_of_work() as session:
        return session.get(Job, job_id).status


def test_a_worker_killed_mid_job_leaves_it_to_another_after_the_lease(
    jobs_db, worker_processes, tmp_path
):
    marker = tmp_path / "started"
    with DatabaseManager.get_session():
        job_id = enqueue("test.hang", {"marker": str(marker)})
    victim = worker_processes.start()
    wait_for(marker.exists)  # its effect is written, not committed
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert status_of(jobs_db, job_id) is JobStatus.RUNNING  # a lease, held by nobody

    survivor = worker_processes.start()
    wait_for(lambda: status_of(jobs_db, job_id) is JobStatus.DONE)

    assert effect_counts(jobs_db.engine) == {job_id: 1}
    with jobs_db.unit_of_work() as session:
        assert session.get(Job, job_id).attempts == 2
    assert survivor.poll() is None


def test_sigterm_finishes_the_current_job_then_exits(jobs_db, worker_processes, tmp_path):
    marker = tmp_path / "started"
    with DatabaseManager.get_session():
        job_id = enqueue("test.slow", {"marker": str(marker), "seconds": 1.0})
        queued = enqueue("test.effect", {}, run_after=None)
    worker = worker_processes.start()
    wait_for(marker.exists)
    worker.send_signal(signal.SIGTERM)

    assert worker.wait(30) == 0
    assert status_of(jobs_db, job_id) is JobStatus.DONE
    assert effect_counts(jobs_db.engine).get(job_id) == 1
    log = worker_processes.log_of(worker)
    assert f"job {job_id} test.slow done" in log
    assert "stopping" in log.lower()
    # Whether the other job ran before the signal or waits for the next worker, it ran
    # at most once and was never left half done.
    assert status_of(jobs_db, queued) in (JobStatus.DONE, JobStatus.QUEUED)


def probe_latencies(database, path: Path, count: int) -> list[float]:
    """Enqueue `count` probe jobs one at a time to an idle worker; seconds from each
    COMMIT to the handler's start."""
    latencies = []
    for _ in range(count):
        # Let the worker go idle (its poll backs off), and enqueue at a random moment of
        # its poll cycle.
        time.sleep(random.uniform(0.3, 0.8))
        with DatabaseManager.get_session():
            job_id = enqueue("test.probe", {"path": str(path)})
        committed = time.time()
        line = wait_for(lambda job_id=job_id: _started(path, job_id), timeout=10, step=0.002)
        latencies.append(line - committed)
    return latencies


def _started(path: Path, job_id: int) -> float | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        seen, at = line.split()
        if int(seen) == job_id:
            return float(at)
    return None


def test_an_idle_worker_process_wakes_within_300_ms(jobs_db, worker_processes, tmp_path):
    worker = worker_processes.start()
    path = tmp_path / "probes"
    # The worker is up when it ran a first probe.
    with DatabaseManager.get_session():
        first = enqueue("test.probe", {"path": str(path)})
    wait_for(lambda: _started(path, first))

    latencies = probe_latencies(jobs_db, path, 10)

    median = statistics.median(latencies)
    print(
        f"\n{jobs_db.settings.backend} process wake-up: median {median * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )
    assert median < WAKE_BOUND, latencies
    assert worker.poll() is None


def test_an_idle_worker_thread_wakes_on_this_process_commit(jobs_db, tmp_path):
    worker = Worker(jobs_db, threads=1)
    worker.start()
    try:
        latencies = probe_latencies(jobs_db, tmp_path / "probes", 10)
    finally:
        worker.stop()
    median = statistics.median(latencies)
    print(f"\n{jobs_db.settings.backend} in-process wake-up: median {median * 1000:.1f} ms")
    assert median < WAKE_BOUND, latencies
