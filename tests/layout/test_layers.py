"""The layout's rules hold, and the checks that enforce them would catch a breach.

`lint-imports` (import-linter, configured in pyproject.toml) checks the layers and the
absence of cycles; a back-arrow planted in a copy of the package must make it fail.
Imports inside functions (the usual way to dodge a cycle) are refused outright.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import studyhall
import studyhall.database as seed_api
from studyhall import errors
from studyhall.models import errors as model_errors

PACKAGE = Path(studyhall.__file__).parent
REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent))


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS, "lint-imports is missing: pip install -e '.[dev]'"
    return subprocess.run(
        [LINT_IMPORTS, str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(source_root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_package(tmp_path: Path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "studyhall", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "studyhall"


def test_the_package_keeps_every_contract():
    result = lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_back_arrow_inside_a_function_breaks_the_layers(tmp_path):
    # The core reaching up to the models, the way the first release dodged its cycles.
    package = copy_of_package(tmp_path)
    engine = package / "db" / "engine.py"
    engine.write_text(
        engine.read_text()
        + "\n\ndef _tables():\n    from studyhall.models import Base\n\n    return Base.metadata\n"
    )
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "Layers point one way BROKEN" in result.stdout
    assert "studyhall.db.engine -> studyhall.models" in result.stdout


def test_a_cycle_between_siblings_breaks_the_contract(tmp_path):
    package = copy_of_package(tmp_path)
    # The backends build their engines with the pool; the pool now reaches back.
    pool = package / "db" / "pool.py"
    pool.write_text(pool.read_text() + "\nfrom studyhall.db import backends as _backends\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "without cycles BROKEN" in result.stdout


def imports_inside_functions(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        found.append(f"{path.relative_to(root)}:{inner.lineno}")
    return found


def test_no_module_imports_inside_a_function():
    assert imports_inside_functions(PACKAGE) == []


@pytest.mark.parametrize(
    "module",
    sorted(
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if path.name == "__init__.py"
        or not path.name.startswith("_")
        and "versions" not in path.parts
        and path.name not in ("env.py",)
    ),
)
def test_every_public_module_declares_all(module):
    tree = ast.parse((PACKAGE.parent / Path(*module.split("."))).with_suffix(".py").read_text())
    names = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    }
    assert "__all__" in names, f"{module} has no __all__"


def test_the_readme_layout_names_every_part_of_the_package():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)(?:/|\.py)`", section))
    parts = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and not path.name.startswith("_"))
    }
    assert named == parts
    # Its table rows are the layers of the import-linter contract, top to bottom.
    config = (REPO / "pyproject.toml").read_text()
    layers = re.search(r"layers = \[(.*?)\]", config, re.S)
    assert layers is not None
    rows = [re.findall(r"`([a-z_]+)(?:/|\.py)`", line) for line in section.splitlines()]
    rows = [
        set(row) - {"testing"} | ({"testing"} if "testing" in row else set())
        for row in rows
        if row
    ]
    contract = [
        set(re.findall(r"[a-z_]+", layer)) for layer in re.findall(r'"([^"]+)"', layers[1])
    ]
    assert rows == contract


def test_the_seed_package_exports_every_error_a_caller_may_catch():
    classes = {
        name
        for module in (errors, model_errors)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, errors.StudyhallError)
    }
    assert classes <= set(seed_api.__all__)
    assert "DatabaseSettings" in seed_api.__all__
    for name in seed_api.__all__:
        assert getattr(seed_api, name) is not None
