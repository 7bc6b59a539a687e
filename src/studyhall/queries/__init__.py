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

__all__ = [
    "CourseCard",
    "CourseSummary",
    "SessionCourseCards",
    "StudentCourses",
    "course_cards",
    "courses_by_student",
    "recent_sessions_by_student",
    "session_course_cards",
    "student_courses",
]
