"""The sample data's logins found in a database, and `studyhall-db disable-demo-logins`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from werkzeug.security import check_password_hash, generate_password_hash

from studyhall.cli import commands as cli
from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.models import Manager, User
from studyhall.sample_data import DEMO_PASSWORD, planned_rows
from studyhall.sample_data.demo_logins import disable_demo_logins, find_demo_logins
from tests.conftest import throwaway_settings

SAMPLE_USERS = planned_rows(1)["users"]


@pytest.fixture
def seeded(backend: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DatabaseSettings]:
    """A throwaway database with the sample data and one manager of its own password."""
    settings = throwaway_settings(backend, tmp_path)
    ensure_database(settings)
    monkeypatch.setenv("DATABASE_URL", settings.url.render_as_string(hide_password=False))
    try:
        DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        DatabaseManager.populate_sample_data()
        with DatabaseManager.get_session():
            Manager.create(
                email="real.manager@school.example",
                password_hash=generate_password_hash("a password of her own", "pbkdf2:sha256:1"),
                first_name="Real",
                last_name="Manager",
            )
        yield settings
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


def test_every_sample_login_is_found_and_only_those(seeded: DatabaseSettings) -> None:
    found = find_demo_logins(DatabaseManager.database())
    assert found.count == SAMPLE_USERS
    assert found.examples == (
        "student1@example.edu",
        "student2@example.edu",
        "student3@example.edu",
    )


def test_the_command_disables_them_in_production(
    seeded: DatabaseSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    DatabaseManager.cleanup()  # the command initializes the manager from the environment
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    first = CliRunner().invoke(cli.main, ["disable-demo-logins"])
    assert first.exit_code == 0, first.output
    assert f"{SAMPLE_USERS} accounts with the demo password deactivated" in first.output
    again = CliRunner().invoke(cli.main, ["disable-demo-logins"])
    assert "0 accounts" in again.output
    assert find_demo_logins(DatabaseManager.database()).count == 0
    with DatabaseManager.get_session():
        manager1 = User.get_by_email("manager1@example.edu")
        real = User.get_by_email("real.manager@school.example")
        assert manager1 is not None and not manager1.is_active
        assert real is not None and real.is_active
        assert check_password_hash(real.password_hash, "a password of her own")


def test_no_users_table_means_no_demo_logins(backend: str, tmp_path) -> None:
    settings = throwaway_settings(backend, tmp_path)
    ensure_database(settings)
    try:
        database = DatabaseManager.initialize(settings)
        assert find_demo_logins(database).count == 0
        assert disable_demo_logins(database) == 0
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


def test_a_shared_hash_of_another_password_is_not_a_demo_login(backend: str, tmp_path) -> None:
    settings = throwaway_settings(backend, tmp_path)
    ensure_database(settings)
    try:
        database = DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        shared = generate_password_hash("not the demo one", "pbkdf2:sha256:1")
        demo = generate_password_hash(DEMO_PASSWORD, "pbkdf2:sha256:1")
        with DatabaseManager.get_session():
            for n in range(3):
                Manager.create(
                    email=f"m{n}@x.example", password_hash=shared, first_name="M", last_name="N"
                )
            # Bounded on purpose: a demo password under a name the sample data does not use,
            # with a hash of its own, is not among the hashes checked.
            Manager.create(
                email="lone@x.example", password_hash=demo, first_name="L", last_name="N"
            )
        assert find_demo_logins(database).count == 0
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)
