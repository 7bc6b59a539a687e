"""The agents at work in a real browser (issue 11's Must-show): Chromium, the sample data on
SQLite, the app with its in-process worker (STUDYHALL_INPROCESS_WORKER=1).

student1 starts a session on "Cells" (whose test has 3 questions) and asks what the
unit's Q&A answers; the Teacher's reply quoting it appears within 3 s with no reload of
the page. The student gets 2 of 3 right in the test and ends the session, and the
Evaluator's score appears on the page, as its documented formula gives it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from studyhall.app import WORKER_EXTENSION, create_app
from studyhall.database import DatabaseManager, get_current_session
from studyhall.models import (
    AgentType,
    AIAgent,
    Evaluation,
    MessageRole,
    SessionStatus,
    StudyMessage,
    StudySession,
    User,
)
from tests.app.test_browser import STUDENT, sample_database_for_browser
from tests.app.test_browser import base_url as base_url  # the app without a worker
from tests.app.test_browser_a11y import browser, shots, sign_in

__all__ = ["base_url", "browser", "shots"]

UNIT = "Cells"  # sample unit 6: three questions, and a Q&A on where cells are used
QUESTION = "Where is cells used outside school?"
ANSWER = "Look for cells in everyday situations: the unit lists three examples from daily life."
RIGHT = "The explanation given in the unit"
WRONG = "None of the above."
REPLY_WITHIN = 3.0  # seconds, from the click on Send


def expected_score(right: int, questions: int, student_messages: int, minutes: float) -> int:
    """The built-in Evaluator's formula, as services/agents/evaluator.py documents it."""
    engagement = (min(student_messages, 4) / 4 + min(minutes, 20) / 20) / 2
    exact = Decimal(80 * right / questions + 20 * engagement)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture
def live_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app with its in-process worker, on a SQLite file with the sample data, served
    on a free port; once the worker has closed the sample data's idle session."""
    sample_database_for_browser(tmp_path)
    monkeypatch.setenv("STUDYHALL_INPROCESS_WORKER", "1")
    app = create_app({"SECRET_KEY": "browser-test-secret"})
    worker = app.extensions[WORKER_EXTENSION]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # student1's sample session has been idle since 2024: the worker's first
        # sessions.close_idle job completes it, so the student starts a new one.
        wait_until_no_active_session(STUDENT, timeout=20)
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        assert worker.stop(30)


def wait_until_no_active_session(email: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = (
        select(StudySession.id)
        .join(User, User.id == StudySession.student_id)
        .where(User.email == email, StudySession.status == SessionStatus.ACTIVE)
    )
    while time.monotonic() < deadline:
        with DatabaseManager.get_session():
            if get_current_session().scalars(query).first() is None:
                return
        time.sleep(0.1)
    raise AssertionError(f"the in-process worker did not close {email}'s idle session")


def test_the_teacher_replies_live_and_the_evaluation_appears(
    live_url: str, browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(10_000)
    sign_in(page, live_url, STUDENT)
    # "Cells" is the first unit of student1's second course.
    page.locator(".grid h2 a").nth(1).click()
    expect(page.locator(".flash.info")).to_have_count(0)
    page.get_by_role("button", name=f"Start study session on {UNIT}").click()
    expect(page.locator(".badge")).to_have_text("active")
    expect(page.locator("h1")).to_have_text(UNIT)
    started = time.monotonic()

    # Sent with fetch: the page stays (the mark set here survives), the reply comes by poll.
    page.evaluate("window.studyhallMark = 'not reloaded'")
    address = page.url
    page.get_by_label("Your message").fill(QUESTION)
    sent = time.monotonic()
    page.get_by_role("button", name="Send").click()
    reply = page.locator(".message.teacher").last
    expect(reply).to_contain_text(ANSWER, timeout=REPLY_WITHIN * 1000)
    waited = time.monotonic() - sent
    print(f"\nthe Teacher's reply appeared {waited:.2f} s after Send")
    assert waited < REPLY_WITHIN
    assert page.evaluate("window.studyhallMark") == "not reloaded" and page.url == address
    expect(page.locator(".message.student").last).to_contain_text(QUESTION)
    expect(page.get_by_label("Your message")).to_have_value("")
    page.screenshot(path=str(shots / "teacher-reply.png"), full_page=True)

    page.get_by_role("button", name="Take the unit's test").click()
    questions = page.locator("fieldset.question")
    expect(questions).to_have_count(3)
    for n in range(3):
        answer = WRONG if n == 2 else RIGHT
        questions.nth(n).get_by_label(re.compile(re.escape(answer))).check()
    page.get_by_role("button", name="Submit your answers").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text("2 of 3 questions right")
    page.get_by_role("link", name="Back to your study session").click()
    expect(page.locator("main")).to_contain_text("Test: 2 of 3 right.")

    with page.expect_response(re.compile(r".*/study_sessions/\d+$")) as served:
        page.get_by_role("button", name="End session").click()
    ended = time.monotonic()
    expect(page.locator(".badge")).to_have_text("completed")
    polled = "will appear here" in served.value.text()
    minutes = (ended - started) / 60
    # The score holds for any session shorter than 80 s (55.83 + minutes / 2 < 56.5).
    score = expected_score(2, 3, student_messages=1, minutes=minutes)
    assert score == expected_score(2, 3, student_messages=1, minutes=0) == 56
    evaluation = page.locator("#evaluation h2")
    expect(evaluation).to_have_text(f"Evaluation: {score}/100")
    how = "by poll" if polled else "in the page served after End session"
    print(f"the evaluation appeared {time.monotonic() - ended:.2f} s after End session, {how}")
    expect(page.locator("#evaluation")).not_to_contain_text("will appear here")
    expect(page.locator("#evaluation p")).to_contain_text("Which example shows cells correctly?")
    page.screenshot(path=str(shots / "evaluation.png"), full_page=True)


def test_without_javascript_a_reload_shows_the_reply_and_the_evaluation(
    live_url: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_url, STUDENT)
    page.locator(".grid h2 a").nth(1).click()
    page.get_by_role("button", name=f"Start study session on {UNIT}").click()
    page.get_by_label("Your message").fill(QUESTION)
    with page.expect_navigation():  # the form's own POST, then its redirect to the page
        page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.student").last).to_contain_text(QUESTION)
    reload_until(page, ".message.teacher", ANSWER)
    page.get_by_role("button", name="End session").click()
    expect(page.locator(".badge")).to_have_text("completed")
    reload_until(page, "#evaluation h2", "Evaluation: ")
    context.close()


def reload_until(page: Any, selector: str, text: str, timeout: float = 10) -> None:
    """Reload the page until `selector` holds `text`, as a student without JavaScript would."""
    deadline = time.monotonic() + timeout
    while text not in " ".join(page.locator(selector).all_text_contents()):
        assert time.monotonic() < deadline, f"no {text!r} in {selector} after {timeout} s"
        time.sleep(0.2)
        page.reload()


def test_the_page_shows_what_jobs_write_after_it_was_served(base_url: str, browser: Any) -> None:
    """Without a worker, the test writes what the jobs would, once the page is open: the
    message and then the evaluation appear by poll, whatever a worker's speed."""
    from playwright.sync_api import expect

    page = browser.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, base_url, STUDENT)
    page.locator(".grid h2 a").first.click()
    page.locator(".flash.info a").click()  # the sample data's running session
    session_id = int(page.url.rsplit("/", 1)[1])
    page.evaluate("window.studyhallMark = 'not reloaded'")
    page.get_by_label("Your message").fill("Is anyone there?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".message.student").last).to_have_text(re.compile("Is anyone there"))
    write_reply(session_id, "Written after the page was served.")
    expect(page.locator(".message.teacher").last).to_have_text(
        re.compile("Written after the page was served")
    )
    page.get_by_role("button", name="End session").click()
    expect(page.locator("#evaluation")).to_contain_text("will appear here")
    page.evaluate("window.studyhallMark = 'not reloaded'")
    write_evaluation(session_id, 61, "Graded after the page was served.")
    expect(page.locator("#evaluation h2")).to_have_text("Evaluation: 61/100")
    expect(page.locator("#evaluation p")).to_have_text("Graded after the page was served.")
    assert page.evaluate("window.studyhallMark") == "not reloaded"


def write_reply(session_id: int, content: str) -> None:
    with DatabaseManager.get_session():
        StudyMessage.create(study_session_id=session_id, role=MessageRole.TEACHER, content=content)


def write_evaluation(session_id: int, score: int, feedback: str) -> None:
    with DatabaseManager.get_session():
        evaluator = AIAgent.get_by(agent_type=AgentType.EVALUATOR, first=True)
        assert evaluator is not None
        Evaluation.create(
            study_session_id=session_id,
            evaluator_agent=evaluator,
            score=score,
            feedback=feedback,
        )
