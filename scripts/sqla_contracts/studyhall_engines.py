"""pytest plugin: run SQLAlchemy's own test suite with every engine built by studyhall.

Loaded by `scripts/sqlalchemy_contracts.py` with `-p studyhall_engines`. With
`--studyhall-engines`, every `create_engine()` the suite makes (its main engine, every
`testing_engine()`, and the tests' own calls) goes through `build_engine()`: studyhall's
options, pool and listeners, with the options the test passed winning, as `build_engine`'s
own overrides do. Without the flag the engines are SQLAlchemy's stock ones (the baseline).

Must not import `sqlalchemy.testing`: SQLAlchemy's conftest registers assertion rewriting
for it and needs to import it first.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import sqlalchemy.engine
import sqlalchemy.engine.create
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import QueuePool

from studyhall.config import DatabaseSettings

# Imported before the patch below, so build_engine keeps the real create_engine.
from studyhall.db import backends as dialects

_stock_create_engine = sqlalchemy.create_engine
_POOL_SIZING = ("pool_size", "max_overflow", "pool_timeout")
_BACKENDS = ("sqlite", "mysql", "mariadb", "postgresql")
# Each test's outcome (nodeid -> outcome, phase, first error line), for the script.
_RESULTS = pytest.StashKey[dict[str, dict[str, str]]]()
_CONFIG: dict[str, pytest.Config] = {}


def _create_engine_for_build_engine(url: Any, **options: Any) -> Engine:
    # build_engine sizes a queue pool; a test that brings its own pool (StaticPool,
    # NullPool, a `pool=` instance) would make create_engine reject those arguments.
    poolclass = options.get("poolclass")
    if "pool" in options or (poolclass is not None and not issubclass(poolclass, QueuePool)):
        for name in _POOL_SIZING:
            options.pop(name, None)
    return _stock_create_engine(url, **options)


def studyhall_create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """`create_engine` as studyhall does it: `build_engine(settings, url, **kwargs)`."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in _BACKENDS:
        return _stock_create_engine(parsed, **kwargs)
    return dialects.build_engine(DatabaseSettings(url=parsed), parsed, **kwargs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("studyhall", "studyhall engine customisations")
    group.addoption(
        "--studyhall-engines",
        action="store_true",
        help="build every engine through studyhall's build_engine",
    )
    group.addoption(
        "--studyhall-deselect",
        action="append",
        default=[],
        metavar="GLOB",
        help="deselect tests whose node id matches GLOB (a deliberate difference)",
    )
    group.addoption(
        "--studyhall-select",
        action="append",
        default=[],
        metavar="NODEID",
        help="run only these tests (node ids as SQLAlchemy's plugin names them)",
    )
    group.addoption(
        "--studyhall-report", metavar="PATH", help="write each test's outcome as JSON here"
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("studyhall_engines"):
        setattr(dialects, "create_engine", _create_engine_for_build_engine)  # noqa: B010
        # Test modules import create_engine after this runs (at collection), so they get
        # ours too; testing_engine() imports it from `sqlalchemy` at each call.
        for module in (sqlalchemy, sqlalchemy.engine, sqlalchemy.engine.create):
            setattr(module, "create_engine", studyhall_create_engine)  # noqa: B010
    config.stash[_RESULTS] = {}


# After SQLAlchemy's own hook, which renames each test class after the backend
# (`ResetAgentTest_sqlite+pysqlite_3_40_1`): node ids given on the command line cannot
# name those classes, so selection by full node id happens here.
@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    patterns: list[str] = config.getoption("studyhall_deselect")
    selected = set(config.getoption("studyhall_select"))
    if not patterns and not selected:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        matched = any(fnmatch.fnmatchcase(item.nodeid, p) for p in patterns)
        if selected and item.nodeid not in selected:
            matched = True
        (drop if matched else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.passed and report.when != "call":
        return
    config = _CONFIG.get("config")
    if config is None:
        return
    results = config.stash[_RESULTS]
    previous = results.get(report.nodeid, {}).get("outcome")
    if previous in ("failed", "error"):
        return  # keep the first failure of a test (setup, call or teardown)
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    message = ""
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = getattr(crash, "message", None) or str(report.longrepr).strip().splitlines()[-1]
    results[report.nodeid] = {"outcome": outcome, "when": report.when, "message": message}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("studyhall_report")
    if path:
        Path(path).write_text(json.dumps(session.config.stash[_RESULTS], indent=1))
