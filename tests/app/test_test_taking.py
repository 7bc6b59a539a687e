"""A student takes the unit's test from the study session page and sees the result."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from studyhall.database import DatabaseManager
from studyhall.db.recording import record_statements
from studyhall.models import (
    Assessment,
    AssessmentAttempt,
    AssessmentChoice,
    AssessmentQuestion,
    AttemptAnswer,
    LearningUnit,
)
from tests.app.support import World, login, post


def add_test(unit_id: int, questions: int = 3) -> dict[int, list[int]]:
    """A test of the unit; question id -> its choice ids, the first one correct."""
    with DatabaseManager.get_session():
        unit = LearningUnit.get(unit_id)
        assert unit is not None
        assessment = Assessment.create(learning_unit=unit, title=f"Check: {unit.title}")
        choices: dict[int, list[int]] = {}
        for n in range(1, questions + 1):
            question = AssessmentQuestion.create(
                assessment=assessment, position=n, prompt=f"What is {n} + {n}?"
            )
            choices[question.id] = [
                AssessmentChoice.create(
                    question=question, position=m, text=f"{n * m + n}", is_correct=m == 1
                ).id
                for m in (1, 2, 3)
            ]
        return choices


@pytest.fixture
def choices(world: World) -> dict[int, list[int]]:
    return add_test(world.algebra_units[0])


def start_session(client: FlaskClient, world: World, unit: int = 0) -> str:
    path = f"/courses/{world.algebra}/units/{world.algebra_units[unit]}/study_sessions"
    response = post(client, path)
    assert response.status_code == 302
    return str(response.location)


def text(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return html.unescape(response.get_data(as_text=True))


def flashes(page: str, category: str) -> list[str]:
    return re.findall(rf'<p class="flash {category}"[^>]*>(.*?)</p>', page)


def answers(choices: dict[int, list[int]], right: int) -> dict[str, str]:
    """Form fields answering the first `right` questions right and the others wrong."""
    return {
        f"question-{question}": str(ids[0] if n < right else ids[1])
        for n, (question, ids) in enumerate(choices.items())
    }


def test_the_student_takes_the_test_and_sees_two_of_three_right(
    client: FlaskClient, world: World, choices: dict[int, list[int]]
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    shown = text(client, session_page)
    assert f'<form method="post" action="{session_page}/test" class="actions">' in shown
    assert ">Take the unit's test</button>" in shown

    response = post(client, f"{session_page}/test")
    assert response.status_code == 302 and response.location == f"{session_page}/test"
    sheet = text(client, f"{session_page}/test")
    assert sheet.count("<fieldset") == 3
    assert "<legend>1. What is 1 + 1?</legend>" in sheet
    first_question, first_choices = next(iter(choices.items()))
    # Each radio button is named by its label, and the browser asks for every question.
    assert re.search(
        rf'<label class="choice"><input type="radio" name="question-{first_question}" '
        rf'value="{first_choices[0]}" required> 2</label>',
        sheet,
    )
    assert f'action="{session_page}/test/submit"' in sheet and 'name="csrf_token"' in sheet

    done = post(client, f"{session_page}/test/submit", **answers(choices, right=2))
    assert done.status_code == 302 and done.location == f"{session_page}/test"
    result = text(client, f"{session_page}/test")
    assert "You answered 2 of 3 questions right (67%)." in result
    assert result.count(">Right</span>") == 2 and result.count(">Wrong</span>") == 1
    assert "<fieldset" not in result and "/test/submit" not in result
    with DatabaseManager.get_session():
        (attempt,) = AssessmentAttempt.get_by()
        assert attempt.score == pytest.approx(2 / 3)
    back = text(client, session_page)
    assert "Test: 2 of 3 right" in back and f'href="{session_page}/test"' in back
    assert "Take the unit's test" not in back


def test_unanswered_questions_count_wrong_and_an_open_test_can_be_continued(
    client: FlaskClient, world: World, choices: dict[int, list[int]]
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    post(client, f"{session_page}/test")
    assert f'href="{session_page}/test">Continue the test</a>' in text(client, session_page)
    first = dict(list(answers(choices, right=3).items())[:1])
    post(client, f"{session_page}/test/submit", **first)
    assert "You answered 1 of 3 questions right (33%)." in text(client, f"{session_page}/test")


def test_a_second_submission_is_refused_and_the_first_result_stays(
    client: FlaskClient, world: World, choices: dict[int, list[int]]
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    post(client, f"{session_page}/test")
    post(client, f"{session_page}/test/submit", **answers(choices, right=1))
    again = post(client, f"{session_page}/test/submit", follow=True, **answers(choices, right=3))
    shown = html.unescape(again.get_data(as_text=True))
    assert flashes(shown, "error") == [
        "This test was already submitted in this study session (1 of 3 right); a test is "
        "submitted once. Its result stays as it is."
    ]
    assert "You answered 1 of 3 questions right (33%)." in shown


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("question-999999", "1", "Question 999999 is not a question of the test"),
        ("question-{q}", "999999", "Choice 999999 is not one of the choices of question 1"),
        ("question-{q}", "many", "The answer to question {q} is not a choice"),
    ],
)
def test_answers_that_are_not_the_tests_are_refused_and_nothing_is_recorded(
    client: FlaskClient,
    world: World,
    choices: dict[int, list[int]],
    field: str,
    value: str,
    says: str,
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    post(client, f"{session_page}/test")
    first = next(iter(choices))
    fields = {**answers(choices, right=3), field.format(q=first): value}
    response = post(client, f"{session_page}/test/submit", follow=True, **fields)
    assert response.request.path == f"{session_page}/test"
    assert flashes(html.unescape(response.get_data(as_text=True)), "error")[0].startswith(
        says.format(q=first)
    )
    with DatabaseManager.get_session():
        assert AttemptAnswer.count() == 0
        assert AssessmentAttempt.get_by()[0].submitted_at is None


def test_a_unit_without_a_test_offers_none(
    client: FlaskClient, world: World, choices: dict[int, list[int]]
) -> None:
    login(client, "alice")
    session_page = start_session(client, world, unit=1)
    shown = text(client, session_page)
    assert "Take the unit's test" not in shown and f"{session_page}/test" not in shown
    response = post(client, f"{session_page}/test", follow=True)
    assert flashes(html.unescape(response.get_data(as_text=True)), "error") == [
        "The unit 'Equations part 2' has no test yet; ask your teacher, or study on."
    ]


def test_the_test_page_without_an_attempt_leads_back_to_the_session(
    client: FlaskClient, world: World, choices: dict[int, list[int]]
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    response = client.get(f"{session_page}/test")
    assert response.status_code == 302 and response.location == session_page


def test_a_finished_session_offers_no_test(
    client: FlaskClient, world: World, choices: dict[int, list[int]]
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    post(client, f"{session_page}/end")
    assert "Take the unit's test" not in text(client, session_page)
    response = post(client, f"{session_page}/test", follow=True)
    assert "only active sessions allow that" in html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("method", ["get", "start", "submit"])
def test_another_students_test_is_not_found(
    app: Flask, client: FlaskClient, world: World, choices: dict[int, list[int]], method: str
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    post(client, f"{session_page}/test")
    other = app.test_client()
    login(other, "bob")
    if method == "get":
        response = other.get(f"{session_page}/test")
    else:
        path = f"{session_page}/test" + ("/submit" if method == "submit" else "")
        response = post(other, path, **answers(choices, right=3))
    assert response.status_code == 404
    with DatabaseManager.get_session():
        assert AttemptAnswer.count() == 0


def test_a_post_without_the_csrf_token_is_refused(
    client: FlaskClient, world: World, choices: dict[int, list[int]]
) -> None:
    login(client, "alice")
    session_page = start_session(client, world)
    assert client.post(f"{session_page}/test").status_code == 400
    with DatabaseManager.get_session():
        assert AssessmentAttempt.count() == 0


def statements(client: FlaskClient, path: str) -> list[str]:
    with record_statements() as seen:
        response = client.get(path)
    assert response.status_code == 200, path
    return seen.statements


@pytest.mark.parametrize("submitted", [False, True])
def test_the_test_page_sends_as_many_statements_with_more_questions(
    client: FlaskClient, world: World, submitted: bool
) -> None:
    login(client, "alice")
    pages = []
    for unit, questions in ((0, 2), (2, 9)):
        choices = add_test(world.algebra_units[unit], questions)
        session_page = start_session(client, world, unit)
        post(client, f"{session_page}/test")
        if submitted:
            post(client, f"{session_page}/test/submit", **answers(choices, right=1))
        statements(client, f"{session_page}/test")  # anything a first request does once
        pages.append(statements(client, f"{session_page}/test"))
        pages.append(statements(client, session_page))
        post(client, f"{session_page}/end")
    small_test, small_session, large_test, large_session = pages
    assert len(large_test) == len(small_test), (small_test, large_test)
    assert len(large_session) == len(small_session), (small_session, large_session)
