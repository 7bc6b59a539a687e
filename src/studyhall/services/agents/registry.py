"""Which implementation serves an `ai_agents` row, chosen by configuration.

A row's `model_name` is `IMPLEMENTATION:MODEL` (e.g. `openai:gpt-4o-mini`) to be served
by a registered implementation, or a plain name (e.g. `studyhall-tutor-1`) served by the
built-in, deterministic agents. An implementation is a factory of `AgentConfig` that
returns an `Agent`; it is registered with `register_agent`, or by an installed package
through the `studyhall.agents` entry point group (`name = package.module:factory`), so a
model-backed agent is plugged in by installing it and naming it in the row.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from studyhall.models import AgentType, AIAgent
from studyhall.services.agents.builtin import BuiltinTeacher
from studyhall.services.agents.evaluator import BuiltinEvaluator
from studyhall.services.agents.protocol import Agent, AgentConfig
from studyhall.services.errors import AgentUnavailableError

AgentFactory = Callable[[AgentConfig], Agent]

ENTRY_POINT_GROUP = "studyhall.agents"
BUILTIN = "builtin"

_FACTORIES: dict[str, AgentFactory] = {}


def builtin_agent(config: AgentConfig) -> Agent:
    """The built-in agent of the row's type."""
    if config.agent_type == AgentType.TEACHER:
        return BuiltinTeacher(config)
    if config.agent_type == AgentType.EVALUATOR:
        return BuiltinEvaluator(config)
    raise AgentUnavailableError(
        f"There is no built-in {config.agent_type} agent for {config.name!r} in this "
        "version. Name a registered implementation in its model_name "
        "('IMPLEMENTATION:MODEL')."
    )


def register_agent(implementation: str, factory: AgentFactory) -> None:
    """Serve the rows whose model_name starts with `implementation:` with `factory`."""
    if not implementation or ":" in implementation:
        raise ValueError(f"An implementation name has no colon: {implementation!r}.")
    _FACTORIES[implementation] = factory


def implementation_of(model_name: str) -> str:
    """The implementation a model_name names (`builtin` for a plain name)."""
    head, colon, _ = model_name.partition(":")
    return head.strip() if colon else BUILTIN


def agent_for(row: AIAgent) -> Agent:
    """The agent that serves `row`. Raises AgentUnavailableError for an inactive row or
    an implementation that is neither registered nor installed."""
    config = AgentConfig(row.id, str(row.agent_type), row.name, row.model_name, row.system_prompt)
    if not row.is_active:
        raise AgentUnavailableError(
            f"AI agent {row.name!r} is inactive; activate it or give the session another."
        )
    return _factory(implementation_of(row.model_name), config)(config)


def _factory(implementation: str, config: AgentConfig) -> AgentFactory:
    if implementation == BUILTIN:
        return _FACTORIES.get(BUILTIN, builtin_agent)
    factory = _FACTORIES.get(implementation)
    if factory is None:
        for entry in entry_points(group=ENTRY_POINT_GROUP, name=implementation):
            factory = entry.load()
            _FACTORIES[implementation] = factory
            break
    if factory is None:
        raise AgentUnavailableError(
            f"AI agent {config.name!r} names the implementation {implementation!r} "
            f"(model_name {config.model_name!r}), which is not installed: install the "
            f"package that provides it (entry point group {ENTRY_POINT_GROUP!r}), or "
            "register it with register_agent()."
        )
    return factory


__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "AgentFactory",
    "agent_for",
    "builtin_agent",
    "implementation_of",
    "register_agent",
]
