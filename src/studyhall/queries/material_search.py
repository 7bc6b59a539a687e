"""Full-text search over one course's own material: its Q&A resources and its units' notes.

The database's own engine finds and ranks the matches (see
`studyhall.db.backends.fulltext`): any word of the question may match, rarer words weigh
more, and words that say nothing on their own ("what", "the", "does") are left out, so
a question about nothing in the course finds nothing. Only the words of the text reach
the engine, as a bound value: quotes, operators and SQL in it are not read as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from sqlalchemy import text

from studyhall.db.backends.fulltext import FullTextIndex, query_text, words_of
from studyhall.db.transaction import get_current_session
from studyhall.models.course import UNIT_SEARCH
from studyhall.models.qa_resource import QA_SEARCH

# More words than a question needs; a longer text is cut here, so one request stays cheap.
MAX_TERMS = 32
MAX_TERM_CHARS = 40
MAX_HITS = 50

# English words too common to tell material apart (all backends, so they agree).
STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few
    for from further get got had has have having he her here hers him his how i if in into
    is it its itself just me more most my no nor not now of off on once only or other our
    out over own please same she should so some such than that the their them then there
    these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours""".split()
)


class HitKind(StrEnum):
    QA = "qa"
    UNIT = "unit"


@dataclass(frozen=True)
class MaterialHit:
    """A match, with where to read more: the unit, and the Q&A resource if it is one."""

    kind: HitKind
    score: float  # higher is better; comparable within one backend and one search only
    unit_id: int
    unit_position: int
    unit_title: str
    resource_id: int | None = None
    question: str | None = None
    answer: str | None = None


def search_terms(question: str) -> list[str]:
    """The words of `question` that are searched for."""
    words = [
        word[:MAX_TERM_CHARS]
        for word in words_of(question)
        if len(word) > 1 and word not in STOPWORDS
    ]
    return words[:MAX_TERMS]


def search_material(course_id: int, question: str, limit: int = 5) -> list[MaterialHit]:
    """The course's Q&A resources that best match `question`, best first, then its units
    whose title or notes match, best first: at most `limit` hits, none when nothing
    matches. Requires an active session.

    On MariaDB/MySQL, rows written by the current, uncommitted transaction are not found
    (InnoDB indexes full text at COMMIT).
    """
    terms = search_terms(question)
    limit = max(0, min(limit, MAX_HITS))
    if not terms or limit == 0:
        return []
    connection = get_current_session().connection()
    dialect = connection.dialect.name
    params = {"course_id": course_id, "terms": query_text(terms, dialect), "limit": limit}
    hits = [
        MaterialHit(HitKind.QA, float(row.score), row.unit_id, row.position, row.title,
                    row.resource_id, row.question, row.answer)
        for row in connection.execute(text(_qa_sql(dialect, QA_SEARCH)), params)
    ]  # fmt: skip
    hits += [
        MaterialHit(HitKind.UNIT, float(row.score), row.unit_id, row.position, row.title)
        for row in connection.execute(text(_unit_sql(dialect, UNIT_SEARCH)), params)
    ]
    # Each engine ranks within one index only: the scores of the Q&A answers and of the
    # units' notes are not on one scale. An answer answers; notes are where to read more.
    return hits[:limit]


# The statements hold checked names only (FullTextIndex); every value is bound.
@cache
def _qa_sql(dialect: str, index: FullTextIndex) -> str:
    found = index.fragments(dialect, "q", "terms")
    return (
        "SELECT q.id AS resource_id, q.question, q.answer, u.id AS unit_id, u.position, "  # noqa: S608
        f"u.title, {found.score} AS score FROM {found.source} "
        "JOIN learning_units AS u ON u.id = q.learning_unit_id "
        f"WHERE {found.condition} AND u.course_id = :course_id "
        "ORDER BY score DESC, q.id LIMIT :limit"
    )


@cache
def _unit_sql(dialect: str, index: FullTextIndex) -> str:
    found = index.fragments(dialect, "u", "terms")
    return (
        f"SELECT u.id AS unit_id, u.position, u.title, {found.score} AS score "  # noqa: S608
        f"FROM {found.source} WHERE {found.condition} AND u.course_id = :course_id "
        "ORDER BY score DESC, u.position LIMIT :limit"
    )


__all__ = [
    "MAX_TERMS",
    "HitKind",
    "MaterialHit",
    "STOPWORDS",
    "search_material",
    "search_terms",
]
