"""A private MariaDB server for fault injection (SIGSTOP, kill): never the shared one.

`private_mariadb(port)` starts a throwaway server on `port` (one no other test uses), with
an `app` user for TCP logins and an empty `studyhall` database, and always resumes and
stops it, by its own PID, when the block exits. `kill()` ends it with SIGKILL (a crash)
and `start()` starts it again on the same data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from sqlalchemy.engine import URL

from tests.conftest import REQUIRE_SERVERS

MARIADBD = "/usr/sbin/mariadbd"
APP_USER, APP_PASSWORD, APP_DATABASE = "app", "app-secret", "studyhall"


@dataclass
class PrivateMariaDB:
    """A running private server; `url` logs in as the app user over TCP."""

    process: subprocess.Popen[bytes]
    port: int
    socket: str
    command: list[str]

    @property
    def url(self) -> URL:
        return URL.create(
            "mysql+pymysql", APP_USER, APP_PASSWORD, "127.0.0.1", self.port, APP_DATABASE
        )

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): the kernel still accepts connections; nobody answers."""
        os.kill(self.process.pid, signal.SIGSTOP)
        # SIGSTOP takes effect as each thread next enters the kernel: until every thread
        # shows state T, a query sent now may still be answered.
        deadline = time.monotonic() + 5
        while not self._stopped() and time.monotonic() < deadline:
            time.sleep(0.001)

    def _stopped(self) -> bool:
        for stat in Path(f"/proc/{self.process.pid}/task").glob("*/stat"):
            try:
                state = stat.read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # a thread that just ended
            if state not in ("T", "t"):
                return False
        return True

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """End the server with SIGKILL, as a crash would, and wait until it is gone."""
        self.process.kill()
        self.process.wait(timeout=30)

    def start(self) -> None:
        """Start the server again on its data (InnoDB recovers) and wait until it listens."""
        self.process = _start(self.command, self.socket, self.port)


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVERS:
        pytest.fail(f"{reason}; STUDYHALL_REQUIRE_SERVERS=1 makes this a failure")
    pytest.skip(reason)


def _listening(socket_path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(socket_path)
        except OSError:
            return False
    return True


def _start(command: list[str], socket_path: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _listening(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=30)
            _unavailable(f"a private MariaDB on port {port} did not start")
        time.sleep(0.05)
    return process


@contextlib.contextmanager
def private_mariadb(port: int) -> Iterator[PrivateMariaDB]:
    """Start a private MariaDB on `port`; SIGCONT and stop it (by PID) on exit."""
    if not (Path(MARIADBD).exists() and shutil.which("mariadb-install-db")):
        _unavailable("mariadbd and mariadb-install-db are not installed")
    directory = tempfile.mkdtemp(prefix="studyhall_mariadb_")
    as_root = os.geteuid() == 0
    user = ["--user=mysql"] if as_root else []
    if as_root:
        shutil.chown(directory, "mysql")
    socket_path = f"{directory}/sock"
    process: subprocess.Popen[bytes] | None = None
    server: PrivateMariaDB | None = None
    try:
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={directory}/data", *user,
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        command = [
            MARIADBD, "--no-defaults", f"--datadir={directory}/data", f"--port={port}",
            f"--socket={socket_path}", "--bind-address=127.0.0.1", *user,
            "--skip-name-resolve", "--innodb-buffer-pool-size=32M",
        ]  # fmt: skip
        server = PrivateMariaDB(_start(command, socket_path, port), port, socket_path, command)
        root = pymysql.connect(unix_socket=socket_path, user="root", connect_timeout=5)
        with root.cursor() as cursor:
            cursor.execute(f"CREATE USER '{APP_USER}'@'127.0.0.1' IDENTIFIED BY '{APP_PASSWORD}'")
            cursor.execute(f"GRANT ALL ON *.* TO '{APP_USER}'@'127.0.0.1'")
            cursor.execute(f"CREATE DATABASE {APP_DATABASE} CHARACTER SET utf8mb4")
        root.close()
        yield server
    finally:
        if server is not None:
            process = server.process  # the last one started
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
                process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)
