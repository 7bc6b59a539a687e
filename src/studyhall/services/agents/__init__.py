"""AI agents behind one protocol: the `ai_agents` row chooses the implementation."""

from studyhall.services.agents.builtin import BuiltinTeacher
from studyhall.services.agents.evaluator import BuiltinEvaluator
from studyhall.services.agents.protocol import (
    Agent,
    AgentConfig,
    EvaluationRequest,
    EvaluationResult,
    MaterialHit,
    NextStep,
    ReplyRequest,
    UnitRef,
)
from studyhall.services.agents.registry import (
    ENTRY_POINT_GROUP,
    agent_for,
    builtin_agent,
    implementation_of,
    register_agent,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentConfig",
    "BuiltinEvaluator",
    "BuiltinTeacher",
    "EvaluationRequest",
    "EvaluationResult",
    "MaterialHit",
    "NextStep",
    "ReplyRequest",
    "UnitRef",
    "agent_for",
    "builtin_agent",
    "implementation_of",
    "register_agent",
]
