"""Real replicated servers for the replica tests, and the faults they inject.

The session fixture `replication` makes sure `scripts/replicas.sh` has a MariaDB GTID set
(primary 3307, replicas 3308 and 3309) and a PostgreSQL streaming set (5442; 5443 and 5444)
running, starting them when `status` says they are not, and returns a `Replication` with
their URLs. When they cannot start, the tests skip with the reason, or fail under
STUDYHALL_REQUIRE_SERVERS=1 (CI).

Its fault helpers are context managers that always undo the fault when the block exits:
`applying_paused`, `delayed`, `frozen`, `killed`; `wait_caught_up` waits until every
replica applied what the primary had. Tests that need a schema create their tables on the
primary (with `primary_url`) and drop them after.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from tests.conftest import REQUIRE_SERVERS

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "replicas.sh"
DIRECTORY = Path(os.environ.get("STUDYHALL_REPLICAS_DIR", "/tmp/studyhall-replicas"))
REPLICAS = 2
CATCH_UP_SECONDS = 60
ENV_PREFIX = {"mariadb": "MARIADB", "postgresql": "POSTGRES"}
PID_PREFIX = {"mariadb": "mariadb", "postgresql": "postgres"}


@dataclass(frozen=True)
class ReplicaSet:
    """The URLs of one backend's primary and replicas: the app account, and the admin one."""

    backend: str
    primary_url: URL
    replica_urls: tuple[URL, ...]
    admin_primary_url: URL
    admin_replica_urls: tuple[URL, ...]


@dataclass(frozen=True)
class Replication:
    """The running replica sets of `scripts/replicas.sh`, and faults to inject into them."""

    directory: Path
    sets: dict[str, ReplicaSet]

    def __getitem__(self, backend: str) -> ReplicaSet:
        return self.sets[backend]

    # --- faults --------------------------------------------------------------------------
    @contextlib.contextmanager
    def applying_paused(self, backend: str, replica: int = 0) -> Iterator[None]:
        """The replica keeps receiving changes but applies none until the block exits."""
        url = self[backend].admin_replica_urls[replica]
        if backend == "mariadb":
            _execute(url, "STOP SLAVE SQL_THREAD")
            try:
                yield
            finally:
                _execute(url, "START SLAVE SQL_THREAD")
            return
        _execute(url, "SELECT pg_wal_replay_pause()")
        try:
            _wait_until(url, "SELECT pg_get_wal_replay_pause_state() = 'paused'", "replay paused")
            yield
        finally:
            _execute(url, "SELECT pg_wal_replay_resume()")

    @contextlib.contextmanager
    def delayed(self, backend: str, seconds: int, replica: int | None = None) -> Iterator[None]:
        """Replicas (all, or the one numbered `replica`) apply each commit `seconds` late."""
        replica_urls = self[backend].admin_replica_urls
        urls = replica_urls if replica is None else (replica_urls[replica],)
        for url in urls:
            _set_delay(backend, url, seconds)
        try:
            yield
        finally:
            for url in urls:
                _set_delay(backend, url, 0)

    @contextlib.contextmanager
    def frozen(self, backend: str, replica: int = 0) -> Iterator[None]:
        """The replica's processes are stopped (SIGSTOP): connections open, nobody answers."""
        pids = _server_pids(self._pid(backend, replica))
        try:
            for pid in pids:  # the parent first: it then cannot start new children
                os.kill(pid, signal.SIGSTOP)
            _wait_stopped(pids)
            yield
        finally:
            for pid in reversed(pids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    @contextlib.contextmanager
    def killed(self, backend: str, replica: int = 0) -> Iterator[None]:
        """The replica crashed (SIGKILL); on exit it is started again and has caught up."""
        pids = _server_pids(self._pid(backend, replica))
        try:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _wait_gone(pids)
            yield
        finally:
            started = run_script("up", backend)
            assert started.returncode == 0, f"the killed replica did not start: {started.stderr}"
            self.wait_caught_up(backend)

    def wait_caught_up(self, backend: str, replica: int | None = None) -> None:
        """Wait until every replica (or the one numbered `replica`) applied everything the
        primary had committed."""
        replica_set = self[backend]
        replica_urls = replica_set.admin_replica_urls
        urls = replica_urls if replica is None else (replica_urls[replica],)
        if backend == "mariadb":
            position = _scalar(replica_set.admin_primary_url, "SELECT @@gtid_binlog_pos")
            for url in urls:
                waited = _scalar(url, f"SELECT MASTER_GTID_WAIT('{position}', {CATCH_UP_SECONDS})")
                assert waited == 0, f"{url.port} did not reach GTID {position}"
            return
        lsn = _scalar(replica_set.admin_primary_url, "SELECT pg_current_wal_lsn()")
        for url in urls:
            _wait_until(url, f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'", f"replay of {lsn}")

    def _pid(self, backend: str, replica: int) -> int:
        path = self.directory / f"{PID_PREFIX[backend]}-replica{replica + 1}.pid"
        return int(path.read_text().strip())


# --- the fixture ---------------------------------------------------------------------------
def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run scripts/replicas.sh with `args` (and `env` over the environment, e.g. another
    STUDYHALL_REPLICAS_DIR and ports); the caller reads returncode and output."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def unavailable(reason: str) -> None:
    """Skip the test for `reason`, or fail it under STUDYHALL_REQUIRE_SERVERS=1 (CI)."""
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason}; STUDYHALL_REQUIRE_SERVERS=1 makes this a failure")
    pytest.skip(reason)


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs if not name.startswith("#")}


def _replica_set(backend: str, env: dict[str, str]) -> ReplicaSet:
    prefix = ENV_PREFIX[backend]

    def urls(name: str) -> tuple[URL, ...]:
        return tuple(make_url(url) for url in env[f"{prefix}_{name}"].split(","))

    return ReplicaSet(
        backend=backend,
        primary_url=make_url(env[f"{prefix}_PRIMARY_URL"]),
        replica_urls=urls("REPLICA_URLS"),
        admin_primary_url=make_url(env[f"{prefix}_ADMIN_PRIMARY_URL"]),
        admin_replica_urls=urls("ADMIN_REPLICA_URLS"),
    )


_started: list[Replication] = []
_brought_up_here: list[bool] = []


def start_replication() -> Replication:
    """Bring the replica sets up when they are not (once per test process) and read the URLs."""
    if _started:
        return _started[0]
    if not SCRIPT.exists():
        unavailable(f"{SCRIPT} is missing")
    if run_script("status", "all").returncode != 0:
        _brought_up_here.append(not (DIRECTORY / "env").exists())
        started = run_script("up", "all", "--replicas", str(REPLICAS))
        if started.returncode != 0:
            if _brought_up_here[-1]:  # e.g. MariaDB started, PostgreSQL 15 missing
                run_script("down", "all")
            last = (started.stderr.strip() or started.stdout.strip()).splitlines()[-1:]
            unavailable(
                f"the replicated servers did not start ({' '.join(last)}); "
                f"run `scripts/replicas.sh up all --replicas {REPLICAS}` to see why"
            )
        _wait_healthy()
    env = _read_env(DIRECTORY / "env")
    replication = Replication(DIRECTORY, {name: _replica_set(name, env) for name in ENV_PREFIX})
    _started.append(replication)
    return replication


def _wait_healthy() -> None:
    # Another test process may hold a fault (a paused or frozen replica) for a moment.
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while (status := run_script("status", "all")).returncode != 0:
        if time.monotonic() > deadline:
            unavailable(f"the replicated servers are not healthy: {status.stdout.strip()}")
        time.sleep(1)


@pytest.fixture(scope="session")
def replication() -> Iterator[Replication]:
    """The running replica sets (started when needed); skips when they cannot run here.

    A set this test run brought up from nothing is taken down when the run ends.
    """
    yield start_replication()
    if any(_brought_up_here):
        run_script("down", "all")


# --- helpers -------------------------------------------------------------------------------
@contextlib.contextmanager
def _admin(url: URL) -> Iterator[Connection]:
    connect_args = {"connect_timeout": 5}
    if url.get_backend_name() == "mysql":  # PyMySQL has no read timeout by default
        connect_args |= {"read_timeout": 120, "write_timeout": 30}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        engine.dispose()


def _execute(url: URL, sql: str) -> None:
    with _admin(url) as conn:
        conn.execute(text(sql))


def _scalar(url: URL, sql: str) -> object:
    with _admin(url) as conn:
        return conn.execute(text(sql)).scalar()


def _wait_until(url: URL, sql: str, what: str) -> None:
    deadline = time.monotonic() + CATCH_UP_SECONDS
    with _admin(url) as conn:
        while not conn.execute(text(sql)).scalar():
            if time.monotonic() > deadline:
                raise AssertionError(f"{url.host}:{url.port}: no {what} in {CATCH_UP_SECONDS}s")
            time.sleep(0.01)


def _set_delay(backend: str, url: URL, seconds: int) -> None:
    if backend == "mariadb":
        # MariaDB changes MASTER_DELAY only while both replication threads are stopped.
        _execute(url, "STOP SLAVE")
        try:
            _execute(url, f"CHANGE MASTER TO MASTER_DELAY = {int(seconds)}")
        finally:
            _execute(url, "START SLAVE")
        return
    with _admin(url) as conn:
        if seconds:
            conn.execute(text(f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(seconds)}s'"))
        else:
            conn.execute(text("ALTER SYSTEM RESET recovery_min_apply_delay"))
        conn.execute(text("SELECT pg_reload_conf()"))


def _server_pids(pid: int) -> list[int]:
    """`pid` and its children: PostgreSQL serves each connection from a child process."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
    return [pid, *children]


def _thread_states(pid: int) -> list[str]:
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(OSError, IndexError):
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
    return states


def _wait_stopped(pids: list[int]) -> None:
    # SIGSTOP takes effect as each thread next enters the kernel.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(state in ("T", "t") for pid in pids for state in _thread_states(pid)):
            return
        time.sleep(0.001)


def _wait_gone(pids: list[int]) -> None:
    # A killed server nobody reaped stays a zombie (state Z): gone for our purpose.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(set(_thread_states(pid)) <= {"Z"} for pid in pids):
            return
        time.sleep(0.01)
