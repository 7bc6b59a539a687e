"""The pytest plugin rolls every test back, whatever the code under test commits."""

from __future__ import annotations

PLUGIN_USER = """
import pytest
from sqlalchemy import select

from studyhall.database import DatabaseManager, get_current_session, on_commit, with_db_session
from tests.database.notes import add_note, create_notes, notes

CALLBACKS = []


@pytest.fixture(scope="session", autouse=True)
def notes_table(db_engine):
    create_notes(db_engine)


@with_db_session
def save(note_id):
    add_note(get_current_session(), note_id)
    on_commit(lambda: CALLBACKS.append(note_id))


def test_commits_for_real(db_session):
    save(1)
    with DatabaseManager.get_session("requires_new") as other:
        add_note(other, 2)
    with pytest.raises(ValueError), DatabaseManager.get_session() as failing:
        add_note(failing, 3)
        raise ValueError
    with DatabaseManager.get_session() as s:
        with pytest.raises(KeyError), DatabaseManager.get_session("nested"):
            add_note(s, 4)
            raise KeyError
    assert db_session.scalars(select(notes.c.id).order_by(notes.c.id)).all() == [1, 2]
    assert CALLBACKS == [1]


def test_sees_nothing_of_the_first(db_session):
    assert db_session.scalars(select(notes.c.id)).all() == []
"""


def test_plugin_rolls_back_each_test(pytester, db_settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_settings.url.render_as_string(hide_password=False))
    pytester.makepyfile(test_user=PLUGIN_USER)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=2)
