"""Small builders of model rows for the model and service tests. Require a session."""

from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.security import generate_password_hash

from studyhall.models import (
    AgentType,
    AIAgent,
    Assessment,
    AssessmentChoice,
    AssessmentQuestion,
    Course,
    Enrollment,
    LearningUnit,
    School,
    Student,
    Subject,
)


@dataclass
class World:
    """A school with one course of three units, two agents and some enrolled students."""

    school: School
    subject: Subject
    course: Course
    units: list[LearningUnit]
    teacher: AIAgent
    evaluator: AIAgent
    students: list[Student] = field(default_factory=list)


# scrypt is slow on purpose (about 0.1 s a hash); the factories share one cheap hash.
PASSWORD = "secret"
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")


def make_student(number: int, **fields: object) -> Student:
    return Student.create(
        email=f"Student{number}@Example.org ",
        password_hash=PASSWORD_HASH,
        first_name=f"Student{number}",
        last_name="Test",
        **fields,
    )


def make_world(students: int = 2) -> World:
    school = School.create(name="Hillside")
    subject = Subject.create(name="Mathematics")
    course = Course.create(school=school, subject=subject, name="Algebra 1", grade_level=7)
    units = [LearningUnit.create(course=course, position=n, title=f"Unit {n}") for n in (1, 2, 3)]
    teacher = AIAgent.create(
        agent_type=AgentType.TEACHER, name="Ada", model_name="m-1", system_prompt="Teach."
    )
    evaluator = AIAgent.create(
        agent_type=AgentType.EVALUATOR, name="Eve", model_name="m-1", system_prompt="Grade."
    )
    world = World(school, subject, course, units, teacher, evaluator)
    for number in range(students):
        student = make_student(number)
        Enrollment.create(student=student, course=course)
        world.students.append(student)
    return world


def make_assessment(unit: LearningUnit, questions: int = 3, choices: int = 3) -> Assessment:
    """A test of `unit`: question n's choices are "Q{n} choice {m}", choice 1 correct."""
    assessment = Assessment.create(learning_unit=unit, title=f"Test of {unit.title}")
    for n in range(1, questions + 1):
        question = AssessmentQuestion.create(assessment=assessment, position=n, prompt=f"Q{n}?")
        for m in range(1, choices + 1):
            AssessmentChoice.create(
                question=question, position=m, text=f"Q{n} choice {m}", is_correct=m == 1
            )
    return assessment
