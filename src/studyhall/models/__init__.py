"""The typed ORM model of studyhall; every model class is importable from here."""

from studyhall.models.ai_agent import AgentType, AIAgent
from studyhall.models.assessment import Assessment, AssessmentChoice, AssessmentQuestion
from studyhall.models.assessment_attempt import AssessmentAttempt, AttemptAnswer
from studyhall.models.base import Base, TimestampMixin
from studyhall.models.course import Course, LearningUnit, Subject
from studyhall.models.enrollment import Enrollment, EnrollmentStatus
from studyhall.models.errors import InvalidCursorError, InvalidFilterError, ModelError
from studyhall.models.evaluation import Evaluation
from studyhall.models.job import Job, JobStatus
from studyhall.models.pagination import KeysetPage, Page
from studyhall.models.qa_resource import Difficulty, QAResource
from studyhall.models.school import School, SchoolClass
from studyhall.models.study_session import (
    HomeHoursStudySession,
    MessageRole,
    SessionKind,
    SessionStatus,
    StudyMessage,
    StudySession,
)
from studyhall.models.user import Manager, Parent, Student, User, UserRole, parent_students
from studyhall.models.user_session import UserSession, hash_session_token, new_session_token

__all__ = [
    "AIAgent",
    "AgentType",
    "Assessment",
    "AssessmentAttempt",
    "AssessmentChoice",
    "AssessmentQuestion",
    "AttemptAnswer",
    "Base",
    "Course",
    "Difficulty",
    "Enrollment",
    "EnrollmentStatus",
    "Evaluation",
    "HomeHoursStudySession",
    "InvalidCursorError",
    "InvalidFilterError",
    "Job",
    "JobStatus",
    "KeysetPage",
    "LearningUnit",
    "Manager",
    "MessageRole",
    "ModelError",
    "Page",
    "Parent",
    "QAResource",
    "School",
    "SchoolClass",
    "SessionKind",
    "SessionStatus",
    "Student",
    "StudyMessage",
    "StudySession",
    "Subject",
    "TimestampMixin",
    "User",
    "UserRole",
    "UserSession",
    "hash_session_token",
    "new_session_token",
    "parent_students",
]
