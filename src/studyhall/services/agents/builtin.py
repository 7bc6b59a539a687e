"""The built-in Teacher: deterministic, offline, and answering only from the course.

It quotes the Q&A answer that best matches the student's message and names the unit to
read more in; with no match it says so and points to the unit's next step. It never
makes anything up: every sentence is the course's own text or a fixed phrase.
"""

from __future__ import annotations

from collections.abc import Sequence

from studyhall.services.agents.protocol import (
    AgentConfig,
    EvaluationRequest,
    EvaluationResult,
    MaterialHit,
    NextStep,
    ReplyRequest,
    UnitRef,
)
from studyhall.services.errors import AgentUnavailableError

# Units named as further reading, at most.
MAX_READING = 3


class BuiltinTeacher:
    """The Teacher of an `ai_agents` row served by studyhall itself (see `registry`)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config

    def reply(self, request: ReplyRequest) -> str:
        answers = [hit for hit in request.hits if hit.kind == "qa" and hit.answer]
        if not answers:
            return _no_match(request)
        best = answers[0]
        lines = [
            f"Here is what {request.course_name} says, in unit {best.unit_position}, "
            f'"{best.unit_title}":',
            "",
            f"> {best.question}",
            f"> {best.answer}",
            "",
            "Read more in " + _reading(best, request.hits) + ".",
        ]
        return "\n".join(lines)

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        raise AgentUnavailableError(
            f"Agent {self.config.name!r} is a Teacher: it replies to students and does not "
            "evaluate sessions. Evaluate with an Evaluator agent."
        )


def _unit(position: int, title: str) -> str:
    return f'unit {position}, "{title}"'


def _reading(best: MaterialHit, hits: Sequence[MaterialHit]) -> str:
    """The units to read more in: the answer's first, then others that matched."""
    seen: dict[int, str] = {best.unit_id: _unit(best.unit_position, best.unit_title)}
    for hit in hits:
        if len(seen) >= MAX_READING:
            break
        seen.setdefault(hit.unit_id, _unit(hit.unit_position, hit.unit_title))
    names = list(seen.values())
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _no_match(request: ReplyRequest) -> str:
    unit = request.unit
    head = (
        f"I could not find anything about that in the material of {request.course_name}, "
        "so I will not guess."
    )
    return f"{head} {_next_step(unit, request.next_step)}"


def _next_step(unit: UnitRef, step: NextStep) -> str:
    here = _unit(unit.position, unit.title)
    if step.assessment_title and step.next_unit:
        return (
            f"Your next step: review the notes of {here}, take its test "
            f'"{step.assessment_title}", then go on to '
            f"{_unit(step.next_unit.position, step.next_unit.title)}."
        )
    if step.assessment_title:
        return (
            f"Your next step: review the notes of {here}, then take its test "
            f'"{step.assessment_title}".'
        )
    if step.next_unit:
        return (
            f"Your next step: review the notes of {here}, then go on to "
            f"{_unit(step.next_unit.position, step.next_unit.title)}."
        )
    return (
        f"Your next step: review the notes of {here}, the last unit of the course, and ask "
        "me about a part of it."
    )


__all__ = ["MAX_READING", "BuiltinTeacher"]
