"""search_material: the database's own full-text search over a course's material."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, inspect, update

from studyhall.database import DatabaseManager
from studyhall.models import LearningUnit, QAResource
from studyhall.queries.material_search import HitKind, search_material, search_terms
from tests.queries.conftest import Material


def search(course_id: int, question: str, limit: int = 5):
    with DatabaseManager.get_session(read_only=True):
        return search_material(course_id, question, limit)


def test_the_answer_to_the_question_comes_first(material: Material):
    hits = search(material.life_science, "Where in the leaf does photosynthesis happen?")

    best = hits[0]
    assert best.kind is HitKind.QA
    assert best.resource_id == material.answers["Where does photosynthesis happen?"]
    assert best.answer.startswith("In the chloroplasts")
    assert (best.unit_id, best.unit_title, best.unit_position) == (
        material.units["Photosynthesis"],
        "Photosynthesis",
        2,
    )
    for kind in HitKind:
        scores = [hit.score for hit in hits if hit.kind is kind]
        assert scores == sorted(scores, reverse=True)
    kinds = [hit.kind for hit in hits]
    assert kinds == sorted(kinds, key=lambda kind: kind is HitKind.UNIT)  # answers first


def test_a_unit_whose_notes_match_is_a_place_to_read_more(material: Material):
    hits = search(material.life_science, "sunlight and carbon dioxide")

    assert [(hit.kind, hit.unit_title) for hit in hits] == [(HitKind.UNIT, "Photosynthesis")]
    assert hits[0].resource_id is None


def test_the_search_stays_in_its_course(material: Material):
    question = "Where in the leaf does photosynthesis happen?"
    life = search(material.life_science, question)
    physics = search(material.physics, question)

    physics_answer = material.answers["Where does photosynthesis happen in a leaf, exactly?"]
    assert physics_answer not in {hit.resource_id for hit in life}
    assert physics[0].resource_id == physics_answer
    assert {hit.unit_title for hit in physics} == {"Light"}


@pytest.mark.parametrize(
    "question",
    ["Tell me about volcanoes and earthquakes", "What is it?", "", "   ", "?!", "the of and"],
)
def test_no_match_finds_nothing(material: Material, question: str):
    assert search(material.life_science, question) == []


def test_limit_bounds_the_hits(material: Material):
    question = "green plant food photosynthesis leaf cell"
    assert len(search(material.life_science, question, limit=10)) > 2
    assert len(search(material.life_science, question, limit=2)) == 2
    assert search(material.life_science, question, limit=0) == []


NASTY = [
    '"',
    "'",
    '"photosynthesis" OR "',
    'photosynthesis" OR 1=1 --',
    "'; DROP TABLE qa_resources; --",
    "NEAR(leaf photosynthesis)",
    "-leaf +photosynthesis* ~happen <chlorophyll >glucose",
    "leaf:photosynthesis ^happen",
    "((( leaf",
    "leaf & photosynthesis | !happen <-> glucose",
    "leaf AND NOT photosynthesis",
    "photosynthesis or or or leaf",
    "@@ \\ %_ leaf {photosynthesis} [happen]",
    "leaf\x00photosynthesis",
    "🌱 leaf 光合作用 photosynthesis",
]


@pytest.mark.parametrize("question", NASTY)
def test_operators_and_quotes_in_the_question_are_just_words(material: Material, question: str):
    plain = " ".join(search_terms(question))

    hits = search(material.life_science, question)

    # The same as asking with the words alone: nothing in the text acted as an operator.
    assert hits == search(material.life_science, plain)
    if "leaf" in plain:
        assert material.answers["Where does photosynthesis happen?"] in {
            hit.resource_id for hit in hits
        }
    with DatabaseManager.get_session() as session:
        assert "qa_resources" in inspect(session.connection()).get_table_names()


def test_the_index_follows_inserts_updates_and_deletes(material: Material):
    unit_id = material.units["Food Chains"]
    with DatabaseManager.get_session():
        resource = QAResource.create(
            learning_unit_id=unit_id, question="What eats algae?", answer="Zooplankton."
        )
    try:
        assert search(material.life_science, "zooplankton")[0].resource_id == resource.id

        with DatabaseManager.get_session() as session:
            session.execute(
                update(QAResource).where(QAResource.id == resource.id).values(answer="Krill.")
            )
            session.execute(
                update(LearningUnit)
                .where(LearningUnit.id == unit_id)
                .values(content="Krill and whales.")
            )
        assert search(material.life_science, "zooplankton") == []
        assert [hit.kind for hit in search(material.life_science, "krill")] == [
            HitKind.QA,
            HitKind.UNIT,
        ]
    finally:
        with DatabaseManager.get_session() as session:
            session.execute(delete(QAResource).where(QAResource.id == resource.id))
            session.execute(
                update(LearningUnit)
                .where(LearningUnit.id == unit_id)
                .values(content="Energy passes from producers to consumers.")
            )
    assert search(material.life_science, "krill") == []


def test_search_terms_drop_common_words_and_operators():
    assert search_terms('What does "photo_synthesis" -need? OR the LEAF') == [
        "photo",
        "synthesis",
        "need",
        "leaf",
    ]
