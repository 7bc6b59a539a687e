"""The login throttle: its storage settings, its messages, and counts shared through Redis.

The Redis tests use the server at 127.0.0.1:6379 under a key prefix of their own, and
delete their keys after. The attacks themselves are rows of test_attacks.py.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from studyhall.app import create_app
from studyhall.app.throttle import LoginThrottle, retry_message
from studyhall.errors import ConfigurationError
from tests.app.support import csrf_token
from tests.conftest import REQUIRE_SERVERS

REDIS_URI = os.environ.get("STUDYHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SRC = Path(__file__).parents[2]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the shared Redis; its keys are deleted after."""
    try:
        redis.Redis.from_url(REDIS_URI, socket_timeout=2).ping()
    except redis.RedisError as exc:
        if REQUIRE_SERVERS:
            pytest.fail(f"Redis at {REDIS_URI} does not answer ({exc})")
        pytest.skip(f"Redis at {REDIS_URI} does not answer ({exc}); start it to run this")
    prefix = f"studyhall-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    LoginThrottle(REDIS_URI, prefix).storage.reset()
    assert not redis.Redis.from_url(REDIS_URI).keys(f"{prefix}:*")


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(1, "in 1 second "), (45, "in 45 seconds"), (60, "in 1 minute "), (61, "in 2 minutes")],
)
def test_the_message_says_when_to_try_again(seconds: int, said: str) -> None:
    message = retry_message(seconds)
    assert message.startswith("Too many failed sign-ins. Try again ")
    assert said in message and re.search(r"\(at \d\d:\d\d:\d\d UTC\)\.$", message)


def test_an_ipv6_client_is_counted_by_its_64_block() -> None:
    throttle = LoginThrottle(pair="2 per minute")
    for address in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        throttle.failed("a@example.edu", address)
    assert throttle.wait("a@example.edu", "2001:db8:1:2::77") > 0
    assert throttle.wait("a@example.edu", "2001:db8:1:3::1") == 0


def test_e_mail_case_and_spaces_do_not_make_another_account() -> None:
    throttle = LoginThrottle(pair="2 per minute")
    throttle.failed("A@Example.edu", "192.0.2.1")
    throttle.failed(" a@example.edu ", "192.0.2.1")
    assert throttle.wait("a@EXAMPLE.edu", "192.0.2.1") > 0


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("memcached://127.0.0.1:11211", "must start with one of"),
        ("redis://127.0.0.1:1/0", "does not answer"),
    ],
)
def test_an_unusable_storage_stops_the_app_from_starting(uri: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        create_app({"SECRET_KEY": "x", "STUDYHALL_RATELIMIT_STORAGE_URI": uri})


CHILD = """
    import re, sys
    from studyhall.app import create_app
    from studyhall.database import DatabaseManager
    app = create_app({
        "SECRET_KEY": "test-secret", "TESTING": True,
        "STUDYHALL_RATELIMIT_STORAGE_URI": sys.argv[1], "STUDYHALL_RATELIMIT_PREFIX": sys.argv[2],
    })
    DatabaseManager.create_tables()
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    print("ready", flush=True)
    for line in sys.stdin:
        email, address = line.split()
        response = client.post(
            "/login", data={"csrf_token": token, "email": email, "password": "wrong"},
            environ_base={"REMOTE_ADDR": address},
        )
        print(response.status_code, response.headers.get("Retry-After", "-"), flush=True)
"""


class AppProcess:
    """An app in a process of its own, signing in when told (stdin) and answering the status."""

    def __init__(self, tmp_path: Path, name: str, prefix: str) -> None:
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DB_", "STUDYHALL_")) and key != "DATABASE_URL"
        }
        environ["DATABASE_URL"] = f"sqlite:///{tmp_path / name}.sqlite3"
        environ["PYTHONPATH"] = str(SRC / "src")
        self.process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHILD), REDIS_URI, prefix],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=tmp_path,
            env=environ,
        )
        assert self.read() == "ready"

    def read(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def sign_in(self, email: str, address: str) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{email} {address}\n")
        self.process.stdin.flush()
        return int(self.read().split()[0])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


def test_two_app_processes_share_the_counts_through_redis(
    tmp_path: Path, redis_prefix: str
) -> None:
    first, second = (
        AppProcess(tmp_path, "one", redis_prefix),
        AppProcess(tmp_path, "two", redis_prefix),
    )
    try:
        statuses = [
            (first if n % 2 else second).sign_in("victim@example.edu", "203.0.113.9")
            for n in range(8)
        ]
        # Another address is not held back by this one's count.
        elsewhere = first.sign_in("victim@example.edu", "192.0.2.50")
    finally:
        first.close()
        second.close()
    # 5 failures a minute for the account from one address, whichever process saw them.
    assert statuses == [401] * 5 + [429] * 3
    assert elsewhere == 401
    assert redis.Redis.from_url(REDIS_URI).keys(f"{redis_prefix}:*")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.skipif(
    shutil.which("redis-server") is None and not REQUIRE_SERVERS,
    reason="no redis-server to start a Redis of the test's own",
)
def test_sign_in_is_refused_not_let_through_when_redis_stops(tmp_path: Path) -> None:
    """A Redis of this test's own, stopped under the app: 503, never an unthrottled check."""
    port = _free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        uri = f"redis://127.0.0.1:{port}/0"
        for _ in range(100):
            if LoginThrottle(uri).storage.check():
                break
            time.sleep(0.05)
        app = create_app(
            {"SECRET_KEY": "x", "TESTING": True, "STUDYHALL_RATELIMIT_STORAGE_URI": uri}
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    client = app.test_client()
    response = client.post(
        "/login",
        data={"csrf_token": csrf_token(client), "email": "a@example.edu", "password": "x"},
    )
    assert response.status_code == 503
    assert "Signing in is unavailable for a moment" in response.get_data(as_text=True)
