"""PostgreSQL: wake this process's workers when another process enqueues (LISTEN/NOTIFY).

`enqueue` notifies `studyhall_jobs` in its transaction (its INSERT calls pg_notify); the
server delivers it at COMMIT. One thread per worker process holds a connection that
LISTENs, blocked in a select() on that connection's socket (psycopg's `notifies`, no
polling), and rings the process's doorbell for every notification, so an idle worker
starts a job within milliseconds instead of at its next poll (the hand-off to the worker
thread measured 0.2 ms). When the connection fails the thread reconnects; meanwhile the
workers' bounded poll still finds the jobs.
"""

from __future__ import annotations

import threading

from studyhall.db.engine import Database
from studyhall.log import get_logger
from studyhall.services.job_queue import CHANNEL, Doorbell

log = get_logger(__name__)

# How often the thread looks up from waiting to see whether it must stop.
STOP_CHECK = 0.5
RECONNECT_DELAY = 1.0


class Listener(threading.Thread):
    """LISTEN on a connection of its own and ring `doorbell` at each notification."""

    def __init__(self, database: Database, doorbell: Doorbell, stopping: threading.Event) -> None:
        super().__init__(name="studyhall-jobs-listener", daemon=True)
        self.database = database
        self.doorbell = doorbell
        self.stopping = stopping
        self.listening = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._listen()
            except Exception as exc:
                self.listening.clear()
                if self.stopping.is_set():
                    return
                log.warning(
                    "The job listener lost its connection (%s: %s); reconnecting in %.0f s, "
                    "workers poll meanwhile",
                    type(exc).__name__,
                    exc,
                    RECONNECT_DELAY,
                )
                self.stopping.wait(RECONNECT_DELAY)

    def _listen(self) -> None:
        connection = self.database.engine.connect()
        try:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql(f"LISTEN {CHANNEL}")
            driver = connection.connection.driver_connection
            assert driver is not None
            self.listening.set()
            # Jobs enqueued while nobody listened: let the workers look once.
            self.doorbell.ring()
            while not self.stopping.is_set():
                for _ in driver.notifies(timeout=STOP_CHECK):
                    self.doorbell.ring()
        finally:
            # Never back to the pool: the next user of a connection that LISTENs would
            # collect notifications it never reads.
            connection.invalidate()
            connection.close()


__all__ = ["Listener"]
