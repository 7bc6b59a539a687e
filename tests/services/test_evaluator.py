"""The built-in Evaluator: its documented score formula and feedback (no database)."""

from __future__ import annotations

import pytest

from studyhall.services.agents import AgentConfig, EvaluationRequest, ReplyRequest, UnitRef
from studyhall.services.agents.evaluator import BuiltinEvaluator, score
from studyhall.services.errors import AgentUnavailableError

UNIT = UnitRef(7, 2, "Photosynthesis")
EVALUATOR = BuiltinEvaluator(AgentConfig(2, "evaluator", "Eve", "studyhall-grader-1", "Grade."))
TEST = "Check: Photosynthesis"


def request(
    right: int = 2,
    questions: int = 3,
    messages: int = 3,
    minutes: float = 12.0,
    missed: tuple[str, ...] = ("Where is chlorophyll?",),
    submitted: bool = True,
    test: str | None = TEST,
) -> EvaluationRequest:
    return EvaluationRequest(UNIT, right, questions, missed, messages, minutes, submitted, test)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # 80 * 2/3 + 20 * (3/4 + 12/20) / 2 = 53.33 + 13.5
        (request(), 67),
        (request(right=3, messages=4, minutes=20.0, missed=()), 100),
        (request(right=3, messages=40, minutes=300.0, missed=()), 100),  # taking part capped
        (request(right=0, messages=0, minutes=0.0), 0),
        # 80 * 1/2 + 20 * (1/4 + 0) / 2 = 42.5: half up
        (request(right=1, questions=2, messages=1, minutes=0.0), 43),
        # Not submitted: taking part alone, at most 20.
        (request(right=0, questions=0, messages=2, minutes=10.0, submitted=False), 10),
        (request(right=0, questions=0, messages=9, minutes=60.0, submitted=False), 20),
        # No test in the unit: taking part, out of 100.
        (request(0, 0, 2, 10.0, (), submitted=False, test=None), 50),
    ],
)
def test_the_score_follows_the_documented_formula(given, expected):
    assert score(given) == expected
    assert EVALUATOR.evaluate(given).score == expected


def test_the_feedback_names_the_missed_questions_and_the_unit_to_revisit():
    result = EVALUATOR.evaluate(request(missed=("Where is chlorophyll?", "What is light?")))
    assert result.feedback.splitlines() == [
        f"Score 67 of 100 (80 for the test, 20 for taking part): you answered 2 of 3 questions "
        f'of "{TEST}" right.',
        "You took part with 3 messages over 12 minutes.",
        'Revisit unit 2, "Photosynthesis" for the questions you missed: "Where is '
        'chlorophyll?"; "What is light?".',
    ]


def test_all_right_says_so():
    result = EVALUATOR.evaluate(request(right=3, messages=1, minutes=0.2, missed=()))
    assert "You took part with 1 message over less than a minute." in result.feedback
    assert result.feedback.endswith("Every answer was right: well done.")


def test_a_session_without_a_submitted_test_is_told_to_take_it():
    result = EVALUATOR.evaluate(request(0, 0, 2, 10.0, (), submitted=False))
    assert result.feedback.splitlines() == [
        f'Score 10 of 100: you did not submit the test "{TEST}", so only taking part counts '
        "(at most 20).",
        "You took part with 2 messages over 10 minutes.",
        'Revisit unit 2, "Photosynthesis" and take its test in your next session on it.',
    ]


def test_a_unit_without_a_test_is_graded_on_taking_part():
    result = EVALUATOR.evaluate(request(0, 0, 2, 10.0, (), submitted=False, test=None))
    assert result.feedback.startswith(
        'Score 50 of 100, from taking part: unit 2, "Photosynthesis" has no test yet.'
    )


def test_an_evaluator_does_not_reply():
    with pytest.raises(AgentUnavailableError, match="Reply with a Teacher agent"):
        EVALUATOR.reply(ReplyRequest("hello?", "Life Science 7", UNIT))
