"""Production guards live in the library, not only in the command line.

With STUDYHALL_ENV=production, dropping every table and clearing every row refuse unless
the caller passes `allow_production=True`; an unknown STUDYHALL_ENV is a configuration
error (a typo must not turn the guards off); `create_app()` refuses settings that differ
from those of an initialized manager instead of ignoring them.
"""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select

from studyhall.app import create_app
from studyhall.app.config import load_app_settings
from studyhall.cli import commands as cli
from studyhall.config import deployment_environment, is_production
from studyhall.database import ConfigurationError, DatabaseManager, UnsafeOperationError
from studyhall.models import Base, User
from tests.conftest import throwaway_settings

SECRET = "s" * 40


@pytest.fixture
def seeded(tables):
    DatabaseManager.populate_sample_data()
    return tables


def user_count(database) -> int:
    with database.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(User.__table__)).scalar_one()


@pytest.mark.parametrize("value", ["prod", "produktion", "staging", "dev"])
def test_an_unknown_environment_is_a_configuration_error(monkeypatch, value):
    monkeypatch.setenv("STUDYHALL_ENV", value)
    with pytest.raises(ConfigurationError, match="is not a deployment environment"):
        deployment_environment()
    with pytest.raises(ConfigurationError, match="'production' or 'development'"):
        load_app_settings(overrides={"SECRET_KEY": SECRET})


def test_known_environments_in_any_case(monkeypatch):
    monkeypatch.setenv("STUDYHALL_ENV", " PRODUCTION ")
    assert is_production()
    monkeypatch.setenv("STUDYHALL_ENV", "Development")
    assert deployment_environment() == "development"
    monkeypatch.delenv("STUDYHALL_ENV")
    assert deployment_environment() == "development"


def test_the_command_line_says_so_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("STUDYHALL_ENV", "prod")
    result = cli_run("drop", "--yes")
    assert result.exit_code == 1
    assert "STUDYHALL_ENV='prod' is not a deployment environment" in result.stderr
    assert "Traceback" not in result.output


def cli_run(*args):
    return CliRunner().invoke(cli.main, list(args))


def test_in_production_drop_tables_refuses_even_forced(seeded, monkeypatch):
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    with pytest.raises(UnsafeOperationError, match="allow_production=True"):
        DatabaseManager.drop_tables(force=True)
    with seeded.engine.connect() as conn:
        assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
    assert user_count(seeded) > 0
    dropped = DatabaseManager.drop_tables(force=True, allow_production=True)
    assert set(dropped) >= set(Base.metadata.tables)


def test_in_production_clearing_the_sample_data_refuses(seeded, monkeypatch):
    before = user_count(seeded)
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    with pytest.raises(UnsafeOperationError, match="delete every row"):
        DatabaseManager.populate_sample_data(clear_existing=True)
    assert user_count(seeded) == before
    summary = DatabaseManager.populate_sample_data(clear_existing=True, allow_production=True)
    assert summary.loaded and user_count(seeded) == before


def test_outside_production_the_guards_stay_out_of_the_way(tables):
    DatabaseManager.populate_sample_data(clear_existing=True)
    assert DatabaseManager.drop_tables(force=True)


def test_create_app_refuses_other_settings_than_the_managers(database, tmp_path):
    other = throwaway_settings("sqlite", tmp_path / "other")
    with pytest.raises(ConfigurationError, match="already initialized"):
        create_app({"SECRET_KEY": SECRET, "DATABASE_SETTINGS": other})
    # The same settings, or none, use the manager as it is.
    assert create_app({"SECRET_KEY": SECRET, "DATABASE_SETTINGS": database.settings})
    assert create_app({"SECRET_KEY": SECRET})
    assert DatabaseManager.database() is database


def test_create_app_refuses_a_pool_too_small_for_its_threads(tmp_path):
    small = dataclasses.replace(
        throwaway_settings("sqlite", tmp_path), pool_size=2, max_overflow=0
    )
    DatabaseManager.initialize(small)
    with pytest.raises(ConfigurationError, match="STUDYHALL_THREADS=4 needs 8"):
        create_app({"SECRET_KEY": SECRET, "STUDYHALL_THREADS": 4})
