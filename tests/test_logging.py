"""Logging as a library does it: a NullHandler only, output configured by the edges.

Each check runs in a fresh interpreter: logging is process-wide state, and pytest's own
capture handlers on the root logger would hide what a real process shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import studyhall
from studyhall.models import Base

# setup's line on a fresh database: every table of the model is created.
CREATED = f"Created {len(Base.metadata.tables)} table(s)"

SRC = Path(studyhall.__file__).parents[1]


def run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DB_", "LOG_", "STUDYHALL_")) and key != "DATABASE_URL"
    }
    environ.update(DATABASE_URL=f"sqlite:///{tmp_path / 'log.sqlite3'}", **env)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_library_adds_only_a_null_handler_and_prints_nothing(tmp_path):
    result = run(
        """
        import logging
        from studyhall.database import DatabaseManager
        DatabaseManager.initialize()
        DatabaseManager.create_tables()
        DatabaseManager.populate_sample_data()
        handlers = logging.getLogger("studyhall").handlers
        assert [type(h).__name__ for h in handlers] == ["NullHandler"], handlers
        assert logging.getLogger().handlers == []
        """,
        tmp_path,
        LOG_LEVEL="DEBUG",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""


def test_an_application_that_configured_logging_gets_each_line_once(tmp_path):
    result = run(
        """
        import logging
        logging.basicConfig(level=logging.INFO, format="ROOT %(name)s: %(message)s")
        from studyhall.app import create_app
        from studyhall.database import DatabaseManager
        create_app({"SECRET_KEY": "k" * 40})
        DatabaseManager.create_tables()
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if CREATED in line]
    assert lines == [f"ROOT studyhall.database.setup: {CREATED}"]


def test_the_app_shows_its_lines_once_when_nothing_is_configured(tmp_path):
    result = run(
        """
        from studyhall.app import create_app
        from studyhall.database import DatabaseManager
        app = create_app({"SECRET_KEY": "k" * 40})
        DatabaseManager.create_tables()
        app.logger.warning("from the app")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(CREATED) == 1
    assert result.stderr.count("from the app") == 1


@pytest.mark.parametrize(("level", "shown"), [("INFO", 1), ("WARNING", 0)])
def test_the_command_line_prints_each_line_once_at_log_level(tmp_path, level, shown):
    cli = Path(sys.executable).parent / "studyhall-db"
    environ = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    environ["LOG_LEVEL"] = level
    result = subprocess.run(
        [str(cli), "init"], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(CREATED) == shown


def test_a_bad_log_level_is_one_line_on_the_command_line(tmp_path):
    cli = Path(sys.executable).parent / "studyhall-db"
    environ = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}
    environ["LOG_LEVEL"] = "chatty"
    result = subprocess.run(
        [str(cli), "status"], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "LOG_LEVEL='chatty' is not a logging level" in result.stderr
    assert "Traceback" not in result.stderr


def test_only_config_reads_the_environment():
    readers = []
    for path in sorted((SRC / "studyhall").rglob("*.py")):
        text = path.read_text()
        if any(word in text for word in ("os.environ", "os.getenv", '"LOG_LEVEL"')):
            readers.append(path.relative_to(SRC).as_posix())
    assert readers == ["studyhall/config.py"]
