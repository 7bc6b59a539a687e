"""Domain errors of the services, under the studyhall root `StudyhallError`.

Each message says what is wrong and what to do; the web app shows it as it is.
"""

from __future__ import annotations

from studyhall.errors import StudyhallError


class ServiceError(StudyhallError):
    """Root of the errors raised by a business operation."""


class NotFoundError(ServiceError, LookupError):
    """Raised when a row named by id does not exist (or is not of the expected kind)."""


class InvalidArgumentError(ServiceError, ValueError):
    """Raised when an argument is out of range or of the wrong kind, before any write."""


class InvalidTransitionError(ServiceError):
    """Raised when a study session is not in a status that allows the operation."""


class NotEnrolledError(ServiceError):
    """Raised when a student is not actively enrolled in the course of a learning unit."""


class ActiveSessionExistsError(ServiceError):
    """Raised when starting a study session of a student who already has an active one."""


class AlreadyEvaluatedError(ServiceError):
    """Raised when evaluating a study session that already has its evaluation."""


class AlreadySubmittedError(ServiceError):
    """Raised when answering, submitting or starting again a test attempt once submitted."""


class AgentUnavailableError(ServiceError):
    """Raised when no implementation serves an AI agent's row, or it cannot do what is
    asked (e.g. a Teacher asked to evaluate)."""


__all__ = [
    "ActiveSessionExistsError",
    "AgentUnavailableError",
    "AlreadyEvaluatedError",
    "AlreadySubmittedError",
    "InvalidArgumentError",
    "InvalidTransitionError",
    "NotEnrolledError",
    "NotFoundError",
    "ServiceError",
]
