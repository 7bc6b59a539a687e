"""Every Python example of README.md runs as written, on a fresh database of each backend.

The examples are read from the README itself, so the README cannot drift from the code.
A block that defines `test_*` functions is a pytest file (it shows the `db_session`
fixture): it is run by pytest, twice, to show that it leaves nothing behind. Every other
block runs as a script, in README order, each in a namespace of its own.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.database.session_context import has_active_session
from studyhall.models import Course
from tests.fresh import fresh_database

__all__ = ["fresh_database"]  # the fixture, imported to be used here

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return [textwrap.dedent(block) for block in _BLOCK.findall(README.read_text())]


def is_test_file(block: str) -> bool:
    tree = ast.parse(block)
    return any(
        isinstance(node, ast.FunctionDef) and node.name.startswith("test_") for node in tree.body
    )


def test_the_readme_has_python_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2
    assert any(is_test_file(block) for block in blocks)
    for block in blocks:
        compile(block, "<README>", "exec")


def test_every_script_example_runs(fresh_database: DatabaseSettings) -> None:
    scripts = [block for block in python_blocks() if not is_test_file(block)]
    namespaces: list[dict[str, Any]] = []
    for number, block in enumerate(scripts, start=1):
        namespace: dict[str, Any] = {"__name__": f"readme_example_{number}"}
        exec(compile(block, f"<README example {number}>", "exec"), namespace)  # noqa: S102
        namespaces.append(namespace)
        assert not has_active_session()
    # The sessions example ends by reading student 1's courses.
    courses = [ns["courses"] for ns in namespaces if "courses" in ns]
    assert courses and courses[0] and all(isinstance(c, Course) for c in courses[0])
    DatabaseManager.cleanup()


def test_every_pytest_example_passes_twice(
    fresh_database: DatabaseSettings, pytester: pytest.Pytester
) -> None:
    tests = [block for block in python_blocks() if is_test_file(block)]
    for number, block in enumerate(tests, start=1):
        pytester.makepyfile(**{f"test_readme_example_{number}": block})
    for _ in range(2):  # the second run sees nothing of the first
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=len(tests))
