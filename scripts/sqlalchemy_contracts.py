#!/usr/bin/env python3
"""Run SQLAlchemy's own engine and session tests with every engine built by studyhall.

The contract: with studyhall's engine customisations (`build_engine`: options, pool,
listeners), SQLAlchemy's tests pass wherever they pass on stock engines, except for the
deliberate differences listed in DELIBERATE below (and in README.md, "Deliberate
differences from SQLAlchemy").

How: fetch the sdist of the installed SQLAlchemy version with pip (cached under
`.cache/`), run TEST_FILES on each backend with the `studyhall_engines` pytest plugin
(scripts/sqla_contracts/), then run the tests that failed again on stock engines: a test
that fails only with our customisations is a broken contract, and the script exits 1.

Usage: `.venv/bin/python scripts/sqlalchemy_contracts.py [--backend sqlite|mariadb ...]`.
MariaDB's URL comes from SQLA_CONTRACTS_MARIADB_URL (default: root@127.0.0.1:3306/test).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "sqlalchemy-contracts"
PLUGIN_DIR = Path(__file__).resolve().parent / "sqla_contracts"
PYTHON = sys.executable

TEST_FILES = (
    "test/engine/test_transaction.py",
    "test/engine/test_reconnect.py",
    "test/engine/test_execute.py",
    "test/orm/test_transaction.py",
)
BACKENDS = {
    # A file, as studyhall uses SQLite: pool sizing, WAL and the busy timeout apply.
    "sqlite": "sqlite:///querytest.db",
    "mariadb": os.environ.get(
        "SQLA_CONTRACTS_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
# Schemas SQLAlchemy's suite expects next to its test database on MySQL/MariaDB.
MYSQL_SCHEMAS = ("test_schema", "test_schema_2")
SERVER_LOCK = "studyhall.sqlalchemy_contracts"

_RESET = (
    "studyhall replaces the pool's unconditional ROLLBACK on check-in (pool_reset_on_return="
    "None plus a `reset` listener): the ROLLBACK is skipped when the connection is known to "
    "be clean and is issued on the DBAPI connection, so the test's mock of "
    "`dialect.do_rollback` does not see the call it counts"
)

_RESET_AGENT = "test/engine/test_transaction.py::ResetAgentTest_*"


@dataclass(frozen=True)
class Difference:
    """Tests (node-id glob) that fail with studyhall's engines on purpose, and why."""

    backends: tuple[str, ...]
    pattern: str
    reason: str


DELIBERATE: tuple[Difference, ...] = (
    *(
        Difference(("sqlite", "mariadb"), f"{_RESET_AGENT}::{name}", _RESET)
        for name in (
            "test_begin_commit",
            "test_begin_rollback",
            "test_reset_agent_no_conn_transaction",
            "test_trans_close",
        )
    ),
    *(
        Difference(("mariadb",), f"{_RESET_AGENT}::{name}", _RESET)
        for name in (
            "test_begin_begin_nested_rollback_commit",
            "test_begin_begin_nested_rollback_rollback",
            "test_begin_nested_trans_close_one",
            "test_begin_nested_trans_close_two",
            "test_begin_nested_trans_rollback",
            "test_reset_via_agent_begin_twophase_commit",
            "test_reset_via_agent_begin_twophase_rollback",
        )
    ),
    Difference(
        ("mariadb",),
        "test/orm/test_transaction.py::SessionTransactionTest_*::test_no_rollback_in_committed_state",
        _RESET + " (the test makes that ROLLBACK after COMMIT fail; ours skips it)",
    ),
    Difference(
        ("sqlite", "mariadb"),
        "test/engine/test_reconnect.py::PrePingRealTest_*::test_pre_ping_db_stays_shutdown",
        "the pool is sized by DB_POOL_SIZE (default 10); the test asserts SQLAlchemy's "
        "default pool_size of 5",
    ),
    Difference(
        ("sqlite", "mariadb"),
        "test/engine/test_reconnect.py::MockReconnectTest::test_conn_reusable",
        "studyhall passes connect_timeout (DB_CONNECT_TIMEOUT) to every server connection, so "
        "the mock DBAPI's connect() sees one argument more than the test expects",
    ),
    *(
        Difference(
            ("sqlite",),
            f"test/engine/test_execute.py::DialectEventTest::{name}",
            "every new SQLite connection gets `PRAGMA foreign_keys=ON` (and WAL for a file); "
            "the test asserts the exact calls made on its mock connection",
        )
        for name in ("test_connect_do_connect", "test_connect_replace_params")
    ),
)

_SUMMARY = re.compile(r"^=+ .* in [\d.]+s.* =+$")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fetch_sdist(sqla_version: str) -> Path:
    """Download and unpack SQLAlchemy's sdist for `sqla_version` once; return its folder."""
    tree = CACHE / f"sqlalchemy-{sqla_version}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two first runs must not unpack over each other
        if not (tree / "test" / "conftest.py").is_file():
            _fetch(sqla_version)
    return tree


def _fetch(sqla_version: str) -> None:
    archive = CACHE / f"sqlalchemy-{sqla_version}.tar.gz"
    if not archive.is_file():
        say(f"fetching the sdist of SQLAlchemy {sqla_version} with pip")
        subprocess.run(
            [
                # Only SQLAlchemy from source: `--no-binary :all:` would also build its
                # build requirements (Cython) from source, minutes instead of seconds.
                PYTHON,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                "sqlalchemy",
                f"sqlalchemy=={sqla_version}",
                "--dest",
                str(CACHE),
            ],
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")


@contextlib.contextmanager
def only_run(backend: str, url: str) -> Iterator[None]:
    """Hold the one-run-at-a-time locks: two runs share the sdist's SQLite file here and
    the MariaDB database `test` (its tables are created and dropped by the suite)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{backend}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"[{backend}] another run holds {lock.name}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if backend == "sqlite":
            yield
            return
        engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                # Runs from other checkouts on the same server: a server-side lock.
                got = conn.exec_driver_sql(f"SELECT GET_LOCK('{SERVER_LOCK}', 900)").scalar()
                if got != 1:
                    raise SystemExit(f"[{backend}] another run kept {SERVER_LOCK} for 900 s")
                for schema in MYSQL_SCHEMAS:
                    conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS {schema}")
                yield
        finally:
            engine.dispose()


def run_pytest(
    tree: Path, dburi: str, args: list[str], *, studyhall: bool, log: Path
) -> tuple[int, str, dict[str, dict[str, str]]]:
    """Run SQLAlchemy's tests in `tree`; return pytest's exit code, summary and outcomes."""
    report = log.with_suffix(".json")
    report.unlink(missing_ok=True)
    command = [
        # -s: no user site, so SQLAlchemy's conftest does not put the sdist's lib/ first:
        # the tests exercise the installed SQLAlchemy, the one studyhall uses.
        PYTHON,
        "-s",
        "-m",
        "pytest",
        "-p",
        "no:studyhall",
        "-p",
        "no:cacheprovider",
        "-p",
        "studyhall_engines",
        "-q",
        "--tb=short",
        "-rfE",
        "--dburi",
        dburi,
        f"--studyhall-report={report}",
        *(["--studyhall-engines"] if studyhall else []),
        *args,
    ]
    env = {**os.environ, "PYTHONPATH": str(PLUGIN_DIR)}
    with log.open("w") as out:
        code = subprocess.run(
            command, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    lines = log.read_text(errors="replace").splitlines()
    summary = next((line for line in reversed(lines) if _SUMMARY.match(line)), "(no summary)")
    outcomes = json.loads(report.read_text()) if report.is_file() else {}
    return code, summary, outcomes


def failures(outcomes: dict[str, dict[str, str]]) -> dict[str, str]:
    """The failed tests (setup or teardown errors included) with their first error line."""
    found = {}
    for nodeid, o in outcomes.items():
        if o["outcome"] in ("failed", "error"):
            first = o["message"].splitlines()[0] if o["message"] else ""
            found[nodeid] = f"{o['outcome']} at {o['when']}: {first}"
    return found


def check_backend(tree: Path, backend: str, logs: Path) -> bool:
    """Run the contract on one backend; print what broke; return True when it holds."""
    dburi = BACKENDS[backend]
    with only_run(backend, dburi):
        return _check_backend(tree, backend, dburi, logs)


def _check_backend(tree: Path, backend: str, dburi: str, logs: Path) -> bool:
    if backend == "sqlite":
        for stale in tree.glob("querytest*.db*"):
            stale.unlink()
    deselect = [f"--studyhall-deselect={d.pattern}" for d in DELIBERATE if backend in d.backends]
    started = time.monotonic()
    code, summary, outcomes = run_pytest(
        tree, dburi, [*deselect, *TEST_FILES], studyhall=True, log=logs / f"{backend}.log"
    )
    took = time.monotonic() - started
    say(f"[{backend}] studyhall engines: {summary} (exit {code}, {took:.0f} s)")
    if code not in (0, 1) or not outcomes:
        say(f"[{backend}] pytest did not run the tests; see {logs / f'{backend}.log'}")
        return False
    failed = failures(outcomes)
    if not failed:
        return True
    # A test that fails on stock engines too is not ours to keep.
    files = sorted({nodeid.split("::")[0] for nodeid in failed})
    select = [f"--studyhall-select={nodeid}" for nodeid in sorted(failed)]
    _, stock_summary, stock = run_pytest(
        tree, dburi, [*select, *files], studyhall=False, log=logs / f"{backend}-stock.log"
    )
    say(f"[{backend}] the {len(failed)} failures again on stock engines: {stock_summary}")
    stock_failed = failures(stock)
    ours = {nodeid: why for nodeid, why in failed.items() if nodeid not in stock_failed}
    for nodeid in sorted(set(failed) - set(ours)):
        say(f"[{backend}] fails on stock engines too (not counted): {nodeid}")
    for nodeid, why in sorted(ours.items()):
        say(f"[{backend}] BROKEN CONTRACT {nodeid}\n    {why}")
    if ours:
        log = logs / f"{backend}.log"
        say(f"[{backend}] {len(ours)} tests fail only with studyhall's engines; log: {log}")
    return not ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=sorted(BACKENDS))
    parser.add_argument("--list-deliberate", action="store_true", help="print DELIBERATE and exit")
    options = parser.parse_args()
    if options.list_deliberate:
        for d in DELIBERATE:
            say(f"{','.join(d.backends)}  {d.pattern}\n    {d.reason}")
        return 0
    sqla_version = version("SQLAlchemy")
    tree = fetch_sdist(sqla_version)
    logs = Path(tempfile.mkdtemp(prefix="sqla-contracts-"))
    say(f"SQLAlchemy {sqla_version}: {', '.join(TEST_FILES)}; logs in {logs}")
    backends = options.backend or sorted(BACKENDS)
    results = [check_backend(tree, backend, logs) for backend in backends]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
