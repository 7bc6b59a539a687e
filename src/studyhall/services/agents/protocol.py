"""What an AI agent is given and what it answers: the protocol every implementation meets.

An agent never reads the database itself: the service hands it everything it may use
(the student's message, the session's unit, the course material that matched, the unit's
next step) and records what it returns. So the built-in agents are pure functions of
their request, and a model-backed agent is a prompt away: the same request, rendered
into its model's input with the row's `system_prompt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class MaterialHit(Protocol):
    """One match of the course material (met by `studyhall.queries.MaterialHit`)."""

    @property
    def kind(self) -> str: ...  # "qa" (a question with its answer) or "unit" (notes)
    @property
    def unit_id(self) -> int: ...
    @property
    def unit_position(self) -> int: ...
    @property
    def unit_title(self) -> str: ...
    @property
    def question(self) -> str | None: ...
    @property
    def answer(self) -> str | None: ...


@dataclass(frozen=True)
class AgentConfig:
    """An `ai_agents` row, as an implementation sees it."""

    id: int
    agent_type: str
    name: str
    model_name: str
    system_prompt: str


@dataclass(frozen=True)
class UnitRef:
    """A learning unit, as a reply names it."""

    id: int
    position: int
    title: str


@dataclass(frozen=True)
class NextStep:
    """Where the student goes from the session's unit: its test, then the next unit."""

    assessment_title: str | None = None
    next_unit: UnitRef | None = None


@dataclass(frozen=True)
class ReplyRequest:
    """A student's message to answer, with the material that matched it, best first."""

    message: str
    course_name: str
    unit: UnitRef
    hits: Sequence[MaterialHit] = field(default_factory=tuple)
    next_step: NextStep = field(default_factory=NextStep)


@dataclass(frozen=True)
class EvaluationRequest:
    """A finished session to assess: the test's result and how the student took part.

    `missed_questions` are the prompts answered wrong or left out, in order;
    `active_minutes` run from the session's start to its last activity. `submitted` is
    False when the session has no submitted attempt (then the counts are 0), and
    `assessment_title` is None when the unit has no test.
    """

    unit: UnitRef
    correct_answers: int
    questions: int
    missed_questions: Sequence[str]
    student_messages: int
    active_minutes: float
    submitted: bool = True
    assessment_title: str | None = None


@dataclass(frozen=True)
class EvaluationResult:
    """An assessment: a score from 0 to 100, and feedback the student can act on."""

    score: int
    feedback: str


class Agent(Protocol):
    """An AI agent: the Teacher replies, the Evaluator evaluates.

    An implementation may raise `AgentUnavailableError` for what its role does not do.
    Both calls must be safe to repeat: a job may run twice, only one result is kept.
    """

    def reply(self, request: ReplyRequest) -> str:
        """The Teacher's reply to the student's message (plain text)."""
        ...

    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """The Evaluator's assessment of a finished study session."""
        ...


__all__ = [
    "Agent",
    "AgentConfig",
    "EvaluationRequest",
    "EvaluationResult",
    "MaterialHit",
    "NextStep",
    "ReplyRequest",
    "UnitRef",
]
