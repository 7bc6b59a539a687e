"""The agent protocol: the row chooses the implementation; the built-in Teacher's replies."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from studyhall.models import AgentType, AIAgent
from studyhall.services.agents import (
    AgentConfig,
    BuiltinEvaluator,
    BuiltinTeacher,
    EvaluationRequest,
    NextStep,
    ReplyRequest,
    UnitRef,
    agent_for,
    implementation_of,
    register_agent,
    registry,
)
from studyhall.services.errors import AgentUnavailableError


@dataclass(frozen=True)
class Hit:
    """A match of the material, as the search gives it (the agent's `MaterialHit`)."""

    kind: str
    unit_id: int
    unit_position: int
    unit_title: str
    question: str | None = None
    answer: str | None = None


UNIT = UnitRef(7, 2, "Photosynthesis")
CONFIG = AgentConfig(1, "teacher", "Ada", "studyhall-tutor-1", "Teach.")
ANSWER = Hit(
    "qa", 7, 2, "Photosynthesis", "Where does photosynthesis happen?",
    "In the chloroplasts of the leaf.",
)  # fmt: skip
NOTES = Hit("unit", 8, 3, "Food Chains")


def row(model_name: str, agent_type: AgentType = AgentType.TEACHER, **fields) -> AIAgent:
    return AIAgent(
        id=1, agent_type=agent_type, name="Ada", model_name=model_name, system_prompt="Teach.",
        is_active=fields.get("is_active", True),
    )  # fmt: skip


NO_STEP = NextStep()


def ask(hits=(), next_step=NO_STEP) -> str:
    request = ReplyRequest("where?", "Life Science 7", UNIT, hits, next_step)
    return BuiltinTeacher(CONFIG).reply(request)


def test_the_teacher_quotes_the_best_answer_and_names_where_to_read_more():
    reply = ask([ANSWER, NOTES])

    assert "> Where does photosynthesis happen?\n> In the chloroplasts of the leaf." in reply
    assert 'unit 2, "Photosynthesis"' in reply
    assert reply.endswith('Read more in unit 2, "Photosynthesis" and unit 3, "Food Chains".')
    assert ask([ANSWER, NOTES]) == reply  # deterministic


def test_notes_alone_are_no_answer():
    assert "could not find anything" in ask([NOTES])


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (NextStep("Check: Photosynthesis", UnitRef(8, 3, "Food Chains")),
         'take its test "Check: Photosynthesis", then go on to unit 3, "Food Chains".'),
        (NextStep("Check: Photosynthesis"), 'then take its test "Check: Photosynthesis".'),
        (NextStep(None, UnitRef(8, 3, "Food Chains")), 'then go on to unit 3, "Food Chains".'),
        (NextStep(), "the last unit of the course, and ask me about a part of it."),
    ],
)  # fmt: skip
def test_with_no_match_the_teacher_says_so_and_gives_the_next_step(step, expected):
    reply = ask([], step)

    assert reply.startswith(
        "I could not find anything about that in the material of Life Science 7"
    )
    assert 'review the notes of unit 2, "Photosynthesis"' in reply
    assert reply.endswith(expected)


def test_a_teacher_does_not_evaluate():
    request = EvaluationRequest(UNIT, 2, 3, ["Q3?"], 4, 12.0)
    with pytest.raises(AgentUnavailableError, match="Evaluate with an Evaluator agent"):
        BuiltinTeacher(CONFIG).evaluate(request)


@pytest.mark.parametrize(
    ("model_name", "implementation"),
    [("studyhall-tutor-1", "builtin"), ("m-1", "builtin"), ("echo:tiny", "echo"),
     ("echo : x:y", "echo")],
)  # fmt: skip
def test_the_model_name_names_the_implementation(model_name, implementation):
    assert implementation_of(model_name) == implementation


class Echo:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config

    def reply(self, request: ReplyRequest) -> str:
        return f"{self.config.model_name}: {request.message}"

    def evaluate(self, request: EvaluationRequest):
        raise NotImplementedError


def test_a_plain_model_name_is_served_by_the_built_in_agent_of_its_type():
    assert isinstance(agent_for(row("m-1")), BuiltinTeacher)
    assert isinstance(agent_for(row("m-1", AgentType.EVALUATOR)), BuiltinEvaluator)


def test_a_registered_implementation_serves_the_rows_that_name_it(monkeypatch):
    monkeypatch.setattr(registry, "_FACTORIES", {})
    register_agent("echo", Echo)

    assert isinstance(agent_for(row("studyhall-tutor-1")), BuiltinTeacher)
    agent = agent_for(row("echo:tiny-1"))
    assert agent.reply(ReplyRequest("hello", "C", UNIT)) == "echo:tiny-1: hello"


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        (row("nowhere:model-9"), "names the implementation 'nowhere'"),
        (row("m-1", is_active=False), "is inactive"),
    ],
)
def test_rows_no_implementation_serves_are_refused(agent, message):
    with pytest.raises(AgentUnavailableError, match=message):
        agent_for(agent)


def test_an_implementation_name_has_no_colon():
    with pytest.raises(ValueError, match="no colon"):
        register_agent("a:b", Echo)
