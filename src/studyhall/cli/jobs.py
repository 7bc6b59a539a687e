"""`studyhall-db jobs` (counts, `--retry-dead`) and `studyhall-db worker` (runs jobs)."""

from __future__ import annotations

import dataclasses
import importlib
import signal
import threading
from types import FrameType

import click

from studyhall.database import DatabaseManager
from studyhall.jobs import JobStatus, Worker, job_counts, load_builtin_handlers, retry_dead
from studyhall.log import get_logger

log = get_logger(__name__)

STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE, JobStatus.DEAD)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@click.command("jobs")
@click.option(
    "--retry-dead", "retry", is_flag=True, help="Queue every dead job again, attempts reset."
)
def jobs(retry: bool) -> None:
    """Background jobs by kind and status."""
    DatabaseManager.initialize()
    if retry:
        queued = retry_dead()
        click.echo(f"{queued:,} dead job{'' if queued == 1 else 's'} queued again")
    counts = job_counts()
    if not counts:
        click.echo("no jobs")
        return
    kinds = sorted({kind for kind, _ in counts})
    width = max(len("kind"), *map(len, kinds))
    click.echo(f"{'kind':<{width}}" + "".join(f"{status.value:>10}" for status in STATUSES))
    for kind in kinds:
        cells = "".join(f"{counts.get((kind, status), 0):>10,}" for status in STATUSES)
        click.echo(f"{kind:<{width}}{cells}")


@click.command("worker")
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs run at once.",
)
@click.option(
    "--import",
    "modules",
    multiple=True,
    metavar="MODULE",
    help="Import MODULE first, registering its handlers (repeatable).",
)
def worker(threads: int, modules: tuple[str, ...]) -> None:
    """Run background jobs until SIGTERM or Ctrl-C, which let the current jobs finish."""
    settings = DatabaseManager.validate_environment()
    # Each thread holds one connection at a time, and one more for a `requires_new` unit
    # inside a handler; the LISTEN thread one.
    wanted = 2 * threads + 1
    if settings.pool_size < wanted:
        settings = dataclasses.replace(settings, pool_size=wanted)
    database = DatabaseManager.initialize(settings)
    load_builtin_handlers()
    for module in modules:
        importlib.import_module(module)

    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()  # only this: the main loop below logs and stops the worker

    previous = {number: signal.signal(number, on_signal) for number in STOP_SIGNALS}
    running = Worker(database, threads=threads)
    running.start()
    try:
        while not running.join(0.2):
            if stop.is_set():
                log.info("stopping: the running jobs finish first (signal received)")
                running.request_stop()
                running.join()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    log.info("worker %s stopped", running.name)


__all__ = ["jobs", "worker"]
