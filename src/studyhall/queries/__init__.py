"""Read models: rows for pages, built in one SELECT without the ORM's identity map."""

from studyhall.queries.course_cards import (
    CourseCard,
    CourseSummary,
    SessionCourseCards,
    StudentCourses,
    course_cards,
    session_course_cards,
    student_courses,
)
from studyhall.queries.family import courses_by_student, recent_sessions_by_student
from studyhall.queries.material_search import HitKind, MaterialHit, search_material
from studyhall.queries.session_updates import MessageRow, messages_after

__all__ = [
    "CourseCard",
    "CourseSummary",
    "HitKind",
    "MaterialHit",
    "MessageRow",
    "SessionCourseCards",
    "StudentCourses",
    "course_cards",
    "courses_by_student",
    "messages_after",
    "recent_sessions_by_student",
    "search_material",
    "session_course_cards",
    "student_courses",
]
