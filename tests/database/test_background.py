from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from studyhall.database import DatabaseManager, get_current_session, submit_with_session
from studyhall.errors import CrossThreadSessionError
from tests.database.notes import add_note, committed_ids


def _write(note_id, fail=False):
    session = get_current_session()
    add_note(session, note_id)
    if fail:
        raise ValueError("task failed")
    return session, threading.get_ident()


def test_each_task_gets_its_own_unit_of_work(notes_db, db_settings):
    with DatabaseManager.get_session() as caller_session, ThreadPoolExecutor(4) as pool:
        futures = [submit_with_session(pool, _write, i) for i in range(1, 9)]
        failing = submit_with_session(pool, _write, 99, fail=True)
        results = [f.result() for f in futures]
        with pytest.raises(ValueError, match="task failed"):
            failing.result()
        assert get_current_session() is caller_session
    assert all(session is not caller_session for session, _ in results)
    assert len({id(s) for s, _ in results}) == 8
    assert threading.get_ident() not in {ident for _, ident in results}
    assert committed_ids(db_settings) == list(range(1, 9))


def test_a_session_handed_to_a_worker_is_refused(notes_db):
    with DatabaseManager.get_session() as session, ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: add_note(session, 1))
        with pytest.raises(CrossThreadSessionError):
            future.result()
