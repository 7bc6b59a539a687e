"""Read models: rows for pages, built in one SELECT without the ORM's identity map."""

from studyhall.queries.course_cards import (
    CourseCard,
    CourseSummary,
    StudentCourses,
    course_cards,
    student_courses,
)

__all__ = ["CourseCard", "CourseSummary", "StudentCourses", "course_cards", "student_courses"]
