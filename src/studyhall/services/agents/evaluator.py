"""The built-in Evaluator: a deterministic, offline grade of a finished study session.

The score, from 0 to 100, combines the unit's test with how the student took part:

    test       = correct answers / questions                 (0 when not submitted)
    engagement = (min(student messages, 4) / 4 + min(minutes, 20) / 20) / 2
    score      = round(80 * test + 20 * engagement)          the unit has a test
    score      = round(100 * engagement)                     the unit has no test

rounded half up. So the test weighs 80 %, taking part 20 %: asking the Teacher 4 times
and studying 20 minutes (start to last activity) earn all of it. A session whose test
was not submitted scores from taking part alone, at most 20, and is told to take the
test; a unit with no test is graded on taking part only, out of 100. The feedback names
the questions answered wrong or left out, and the unit to revisit.
"""

from __future__ import annotations

from collections.abc import Sequence

from studyhall.services.agents.protocol import (
    AgentConfig,
    EvaluationRequest,
    EvaluationResult,
    ReplyRequest,
    UnitRef,
)
from studyhall.services.errors import AgentUnavailableError

TEST_WEIGHT = 80
ENGAGEMENT_WEIGHT = 100 - TEST_WEIGHT
# Taking part in full: this many of the student's own messages, this many minutes.
FULL_MESSAGES = 4
FULL_MINUTES = 20.0


def engagement(student_messages: int, active_minutes: float) -> float:
    """How fully the student took part, from 0 to 1 (see the module docstring)."""
    messages = min(max(student_messages, 0), FULL_MESSAGES) / FULL_MESSAGES
    minutes = min(max(active_minutes, 0.0), FULL_MINUTES) / FULL_MINUTES
    return (messages + minutes) / 2


def score(request: EvaluationRequest) -> int:
    """The session's score from 0 to 100 (see the module docstring)."""
    part = engagement(request.student_messages, request.active_minutes)
    if not request.submitted:
        weighted = (ENGAGEMENT_WEIGHT if request.assessment_title else 100) * part
    else:
        share = request.correct_answers / request.questions if request.questions else 0.0
        weighted = TEST_WEIGHT * share + ENGAGEMENT_WEIGHT * part
    return min(100, int(weighted + 0.5))


class BuiltinEvaluator:
    """The Evaluator of an `ai_agents` row served by studyhall itself (see `registry`)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config

    def reply(self, request: ReplyRequest) -> str:
        raise AgentUnavailableError(
            f"Agent {self.config.name!r} is an Evaluator: it grades finished sessions and "
            "does not reply to students. Reply with a Teacher agent."
        )

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        total = score(request)
        unit = _unit(request.unit)
        taking_part = (
            f"You took part with {_count(request.student_messages, 'message')} over "
            f"{_minutes(request.active_minutes)}."
        )
        if not request.submitted and request.assessment_title is None:
            lines = [
                f"Score {total} of 100, from taking part: {unit} has no test yet.",
                taking_part,
                f"Revisit {unit} and ask the Teacher about the parts you are unsure of.",
            ]
        elif not request.submitted:
            lines = [
                f'Score {total} of 100: you did not submit the test "{request.assessment_title}"'
                f", so only taking part counts (at most {ENGAGEMENT_WEIGHT}).",
                taking_part,
                f"Revisit {unit} and take its test in your next session on it.",
            ]
        else:
            test = f'"{request.assessment_title}"' if request.assessment_title else "the test"
            lines = [
                f"Score {total} of 100 ({TEST_WEIGHT} for the test, {ENGAGEMENT_WEIGHT} for "
                f"taking part): you answered {request.correct_answers} of "
                f"{_count(request.questions, 'question')} of {test} right.",
                taking_part,
                _missed(unit, request.missed_questions),
            ]
        return EvaluationResult(score=total, feedback="\n".join(lines))


def _unit(unit: UnitRef) -> str:
    return f'unit {unit.position}, "{unit.title}"'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _minutes(minutes: float) -> str:
    whole = int(minutes + 0.5)
    return "less than a minute" if whole < 1 else _count(whole, "minute")


def _missed(unit: str, questions: Sequence[str]) -> str:
    if not questions:
        return "Every answer was right: well done."
    named = "; ".join(f'"{prompt}"' for prompt in questions)
    return f"Revisit {unit} for the questions you missed: {named}."


__all__ = [
    "ENGAGEMENT_WEIGHT",
    "FULL_MESSAGES",
    "FULL_MINUTES",
    "TEST_WEIGHT",
    "BuiltinEvaluator",
    "engagement",
    "score",
]
