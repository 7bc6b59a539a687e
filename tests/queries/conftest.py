"""Fixtures of the query tests: course material committed once per module and backend.

Full-text indexes see committed rows only on MariaDB (InnoDB indexes them at COMMIT), so
the material is written for real, once, and each test only reads it (or cleans up what
it wrote itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from studyhall.config import DatabaseSettings
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.models import AgentType, AIAgent, Course, LearningUnit, QAResource, School, Subject
from tests.conftest import BACKENDS, require_backend, throwaway_settings

# (title, notes, ((question, answer), ...)) of each unit of the life-science course.
LIFE_SCIENCE = (
    ("Cells", "Every living thing is made of cells; the membrane controls what enters.",
     (("What does the cell membrane do?", "It controls what enters and leaves the cell."),)),
    ("Photosynthesis", "Green plants make their own food from sunlight and carbon dioxide.",
     (("Where does photosynthesis happen?",
       "In the chloroplasts of the leaf, which hold the green chlorophyll."),
      ("What does photosynthesis produce?", "Glucose for the plant, and oxygen."))),
    ("Food Chains", "Energy passes from producers to consumers.",
     (("What is a producer?", "An organism that makes its own food, such as a green plant."),)),
)  # fmt: skip
# Another course asks the same question better: a search must stay in its course.
PHYSICS = (
    ("Light", "How light travels.",
     (("Where does photosynthesis happen in a leaf, exactly?", "Physics has no answer."),)),
)  # fmt: skip


@dataclass(frozen=True)
class Material:
    settings: DatabaseSettings
    life_science: int
    physics: int
    units: dict[str, int]
    answers: dict[str, int]  # Q&A resource ids by question
    teacher: int


def _course(school: School, subject: Subject, name: str, units: tuple, material: dict) -> Course:
    course = Course.create(school=school, subject=subject, name=name, grade_level=7)
    for position, (title, notes, pairs) in enumerate(units, start=1):
        unit = LearningUnit.create(course=course, position=position, title=title, content=notes)
        material["units"][title] = unit.id
        for question, answer in pairs:
            material["answers"][question] = QAResource.create(
                learning_unit=unit, question=question, answer=answer
            ).id
    return course


@pytest.fixture(scope="module", params=BACKENDS)
def material_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Material]:
    """A throwaway database with two courses of material, committed."""
    require_backend(request.param)
    settings = throwaway_settings(request.param, Path(tmp_path_factory.mktemp("db")))
    ensure_database(settings)
    DatabaseManager.cleanup()
    DatabaseManager.initialize(settings)
    try:
        DatabaseManager.create_tables()
        found: dict = {"units": {}, "answers": {}}
        with DatabaseManager.get_session():
            school = School.create(name="Riverside")
            subject = Subject.create(name="Science")
            life = _course(school, subject, "Life Science 7", LIFE_SCIENCE, found)
            physics = _course(school, subject, "Physics 7", PHYSICS, found)
            teacher = AIAgent.create(
                agent_type=AgentType.TEACHER, name="Ada", model_name="m-1", system_prompt="."
            )
        yield Material(settings, life.id, physics.id, found["units"], found["answers"], teacher.id)
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


@pytest.fixture
def material(material_database: Material) -> Iterator[Material]:
    """The module's material, with the DatabaseManager initialized on it."""
    DatabaseManager.initialize(material_database.settings)
    yield material_database
    DatabaseManager.cleanup()


__all__ = ["LIFE_SCIENCE", "Material", "material", "material_database"]
