"""The rows of the sample data, made lazily, table by table, from the scale alone.

Every id is computed, not read back from the database: rows of later tables refer to
earlier ones by arithmetic, so nothing is kept in memory between batches and the same
scale always gives the same rows. Random choices come from generators seeded per table,
and every timestamp is counted from one fixed base date.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from studyhall.sample_data import content as content

SEED = 20240902
BASE_DATE = datetime(2024, 9, 2, 8, 0, 0)
EMAIL_DOMAIN = "example.edu"

MANAGERS = len(content.SCHOOLS)
CLASSES_PER_SCHOOL = 2
COURSES_PER_SCHOOL = 3
UNITS_PER_COURSE = 5
CHOICES_PER_QUESTION = 4
QA_PER_UNIT = 3
STUDENTS_PER_SCALE = 24
SESSIONS_PER_SCALE = 20
TEACHER_AGENT_ID, EVALUATOR_AGENT_ID = 1, 2

# Session i has status _STATUS_CYCLE[(i - 1) % 10]; a student has sessions 2k-1 and 2k,
# and no pair holds two 'active' ones (a student has at most one active session).
_STATUS_CYCLE = (
    "completed", "active", "completed", "planned", "completed",
    "cancelled", "completed", "completed", "planned", "completed",
)  # fmt: skip
_MESSAGES = {"planned": 0, "cancelled": 2, "active": 6}
MESSAGE_SECONDS = 90
_MESSAGE_GAPS = tuple(timedelta(seconds=MESSAGE_SECONDS * (n + 1)) for n in range(20))

Row = dict[str, Any]


@dataclass(frozen=True)
class Blueprint:
    """What to make: the scale, and the one password hash every user shares."""

    scale: int
    password_hash: str

    @property
    def students(self) -> int:
        return STUDENTS_PER_SCALE * self.scale

    @property
    def parents(self) -> int:
        return self.students // 2

    @property
    def sessions(self) -> int:
        return SESSIONS_PER_SCALE * self.scale

    # Students come first, so that user 1 is `student1@...`: the examples of the docs
    # (`Student.get_by(id=1)`, `get_student_courses(student_id=1)`) work as written.
    def student_id(self, k: int) -> int:
        """The user id of student number `k` (1-based)."""
        return k

    def parent_id(self, j: int) -> int:
        return self.students + j

    def manager_id(self, m: int) -> int:
        return self.students + self.parents + m


@dataclass(frozen=True)
class PlannedSession:
    id: int
    student_id: int
    unit_id: int
    status: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    messages: int


def _rng(table: str) -> random.Random:
    return random.Random(f"{SEED}:{table}")


def _school_of_student(k: int) -> int:
    """Students 4n+1 and 4n+2 go to school 1, 4n+3 and 4n+4 to school 2 (so siblings
    2j-1 and 2j share a school)."""
    return ((k - 1) % 4) // 2 + 1


def _class_of_student(k: int) -> int:
    return (k - 1) % 4 + 1


@cache
def _courses_of_school(school: int) -> tuple[int, ...]:
    return tuple(i + 1 for i, course in enumerate(content.COURSES) if course[0] == school - 1)


@cache
def _dialogue(unit_id: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The student's and the teacher's lines about a unit, formatted once."""
    topic = unit_title(unit_id).lower()
    return (
        tuple(line.format(topic=topic) for line in content.STUDENT_LINES),
        tuple(line.format(topic=topic) for line in content.TEACHER_LINES),
    )


def unit_title(unit_id: int) -> str:
    course = content.COURSES[(unit_id - 1) // UNITS_PER_COURSE]
    return course[3][(unit_id - 1) % UNITS_PER_COURSE]


def _questions_of_unit(unit_id: int) -> int:
    return 3 + unit_id % 3


def _stamps(moment: datetime) -> Row:
    return {"created_at": moment, "updated_at": moment}


def schools(bp: Blueprint) -> Iterator[Row]:
    for i, (name, _) in enumerate(content.SCHOOLS, start=1):
        yield {"id": i, "name": name, **_stamps(BASE_DATE - timedelta(days=60))}


def school_classes(bp: Blueprint) -> Iterator[Row]:
    class_id = 0
    for school_id, (_, classes) in enumerate(content.SCHOOLS, start=1):
        for name, grade in classes:
            class_id += 1
            yield {"id": class_id, "school_id": school_id, "name": name, "grade_level": grade}


def subjects(bp: Blueprint) -> Iterator[Row]:
    for i, (name, description) in enumerate(content.SUBJECTS, start=1):
        yield {"id": i, "name": name, "description": description}


def courses(bp: Blueprint) -> Iterator[Row]:
    subject_ids = {name: i for i, (name, _) in enumerate(content.SUBJECTS, start=1)}
    for i, (school, subject, name, _) in enumerate(content.COURSES, start=1):
        grade = content.SCHOOLS[school][1][0][1]
        yield {
            "id": i,
            "school_id": school + 1,
            "subject_id": subject_ids[subject],
            "name": name,
            "grade_level": grade,
            "description": f"{subject} for grade {grade}, in {UNITS_PER_COURSE} units.",
            **_stamps(BASE_DATE - timedelta(days=30)),
        }


def learning_units(bp: Blueprint) -> Iterator[Row]:
    for course_id in range(1, len(content.COURSES) + 1):
        for position in range(1, UNITS_PER_COURSE + 1):
            unit_id = (course_id - 1) * UNITS_PER_COURSE + position
            title = unit_title(unit_id)
            yield {
                "id": unit_id,
                "course_id": course_id,
                "position": position,
                "title": title,
                "content": f"Notes, worked examples and exercises on {title.lower()}.",
            }


def _unit_ids() -> range:
    return range(1, len(content.COURSES) * UNITS_PER_COURSE + 1)


def assessments(bp: Blueprint) -> Iterator[Row]:
    for unit_id in _unit_ids():
        yield {
            "id": unit_id,
            "learning_unit_id": unit_id,
            "title": f"Check your understanding: {unit_title(unit_id)}",
            "created_at": BASE_DATE - timedelta(days=30),
        }


def _question_ids() -> Iterator[tuple[int, int, int]]:
    """(question id, assessment id, position) of every question."""
    question_id = 0
    for unit_id in _unit_ids():
        for position in range(1, _questions_of_unit(unit_id) + 1):
            question_id += 1
            yield question_id, unit_id, position


def assessment_questions(bp: Blueprint) -> Iterator[Row]:
    templates = content.QUESTION_TEMPLATES
    for question_id, unit_id, position in _question_ids():
        topic = unit_title(unit_id).lower()
        yield {
            "id": question_id,
            "assessment_id": unit_id,
            "position": position,
            "prompt": templates[(position - 1) % len(templates)].format(topic=topic),
        }


def assessment_choices(bp: Blueprint) -> Iterator[Row]:
    for question_id, unit_id, _ in _question_ids():
        topic = unit_title(unit_id).lower()
        # The correct answer (template 0) moves between the first three positions;
        # "None of the above" stays last.
        correct = question_id % 3
        order = [(correct + n) % 3 for n in range(3)]
        texts = [""] * 3
        for template, slot in enumerate(order):
            texts[slot] = content.CHOICE_TEMPLATES[template]
        texts.append(content.CHOICE_TEMPLATES[3])
        for position, text in enumerate(texts, start=1):
            yield {
                "id": (question_id - 1) * CHOICES_PER_QUESTION + position,
                "question_id": question_id,
                "position": position,
                "text": text.format(topic=topic),
                "is_correct": position == correct + 1,
            }


def qa_resources(bp: Blueprint) -> Iterator[Row]:
    difficulties = ("easy", "medium", "hard")
    for unit_id in _unit_ids():
        topic = unit_title(unit_id).lower()
        for n, (question, answer) in enumerate(content.QA_TEMPLATES):
            yield {
                "id": (unit_id - 1) * QA_PER_UNIT + n + 1,
                "learning_unit_id": unit_id,
                "question": question.format(topic=topic),
                "answer": answer.format(topic=topic).capitalize(),
                "difficulty": difficulties[n],
                "created_at": BASE_DATE - timedelta(days=30),
            }


def ai_agents(bp: Blueprint) -> Iterator[Row]:
    agents = (
        (TEACHER_AGENT_ID, "teacher", "Ada (Teacher)", content.TEACHER_PROMPT),
        (EVALUATOR_AGENT_ID, "evaluator", "Grace (Evaluator)", content.EVALUATOR_PROMPT),
    )
    for agent_id, agent_type, name, prompt in agents:
        yield {
            "id": agent_id,
            "agent_type": agent_type,
            "name": name,
            "model_name": "studyhall-tutor-1",
            "system_prompt": prompt,
            "is_active": True,
            **_stamps(BASE_DATE - timedelta(days=30)),
        }


def _user(user_id: int, role: str, email: str, first: str, last: str, bp: Blueprint) -> Row:
    return {
        "id": user_id,
        "role": role,
        "email": email,
        "password_hash": bp.password_hash,
        "first_name": first,
        "last_name": last,
        "is_active": True,
        "last_login_at": None,
        "school_class_id": None,
        "managed_school_id": None,
        **_stamps(BASE_DATE - timedelta(days=14)),
    }


def users(bp: Blueprint) -> Iterator[Row]:
    """Students (ids 1 to S), then parents, then managers, in id order."""
    rng = _rng("users")
    first_names, last_names = content.FIRST_NAMES, content.LAST_NAMES
    for k in range(1, bp.students + 1):
        family = last_names[((k + 1) // 2 - 1) % len(last_names)]
        row = _user(
            bp.student_id(k),
            "student",
            f"student{k}@{EMAIL_DOMAIN}",
            rng.choice(first_names),
            family,
            bp,
        )
        yield {**row, "school_class_id": _class_of_student(k)}
    for j in range(1, bp.parents + 1):
        family = last_names[(j - 1) % len(last_names)]
        email = f"parent{j}@{EMAIL_DOMAIN}"
        yield _user(bp.parent_id(j), "parent", email, rng.choice(first_names), family, bp)
    for m in range(1, MANAGERS + 1):
        email = f"manager{m}@{EMAIL_DOMAIN}"
        row = _user(bp.manager_id(m), "manager", email, *_name(rng), bp)
        yield {**row, "managed_school_id": m}


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(content.FIRST_NAMES), rng.choice(content.LAST_NAMES)


def parent_students(bp: Blueprint) -> Iterator[Row]:
    for j in range(1, bp.parents + 1):
        for k in (2 * j - 1, 2 * j):
            yield {"parent_id": bp.parent_id(j), "student_id": bp.student_id(k)}


def enrollments(bp: Blueprint) -> Iterator[Row]:
    for k in range(1, bp.students + 1):
        for n, course_id in enumerate(_courses_of_school(_school_of_student(k))):
            key = k * COURSES_PER_SCHOOL + n
            status = "completed" if key % 11 == 0 else "dropped" if key % 17 == 0 else "active"
            yield {
                "id": (k - 1) * COURSES_PER_SCHOOL + n + 1,
                "student_id": bp.student_id(k),
                "course_id": course_id,
                "status": status,
                "enrolled_at": BASE_DATE + timedelta(minutes=k),
            }


def planned_sessions(bp: Blueprint) -> Iterator[PlannedSession]:
    """The study sessions: two per student for the first 10 in 12 students."""
    for i in range(1, bp.sessions + 1):
        k = (i - 1) // 2 + 1
        course_id = _courses_of_school(_school_of_student(k))[(i - 1) % COURSES_PER_SCHOOL]
        unit_id = (course_id - 1) * UNITS_PER_COURSE + ((i - 1) // 3) % UNITS_PER_COURSE + 1
        status = _STATUS_CYCLE[(i - 1) % len(_STATUS_CYCLE)]
        messages = _MESSAGES.get(status, 14 + i % 5)
        created = BASE_DATE + timedelta(days=(i - 1) % 60, hours=7 + i % 4, minutes=i % 50)
        started = None if status == "planned" else created + timedelta(minutes=5)
        ended = None
        if started is not None and status in ("completed", "cancelled"):
            ended = started + timedelta(seconds=MESSAGE_SECONDS * (messages + 1) + i % 300)
        yield PlannedSession(
            i, bp.student_id(k), unit_id, status, created, started, ended, messages
        )


def study_sessions(bp: Blueprint) -> Iterator[Row]:
    for s in planned_sessions(bp):
        duration = None
        if s.status == "completed" and s.started_at and s.ended_at:
            duration = int((s.ended_at - s.started_at).total_seconds())
        yield {
            "id": s.id,
            "kind": "home_hours",
            "student_id": s.student_id,
            "learning_unit_id": s.unit_id,
            "teacher_agent_id": TEACHER_AGENT_ID,
            "status": s.status,
            "active_student_id": s.student_id if s.status == "active" else None,
            "created_at": s.created_at,
            "updated_at": s.ended_at or _last_message_at(s) or s.started_at or s.created_at,
            "started_at": s.started_at,
            "ended_at": s.ended_at,
            "duration_seconds": duration,
        }


def _last_message_at(s: PlannedSession) -> datetime | None:
    """When the session's last message was sent: a running session's last activity, at
    which it ends when it is ended or found idle (`services.study_session.lifecycle`)."""
    if s.started_at is None or not s.messages:
        return None
    return s.started_at + _MESSAGE_GAPS[s.messages - 1]


def study_messages(bp: Blueprint) -> Iterator[Row]:
    rng = _rng("study_messages")
    roles = ("student", "teacher")
    message_id = 0
    for s in planned_sessions(bp):
        if s.started_at is None:  # planned: no messages yet
            continue
        dialogue = _dialogue(s.unit_id)
        for n in range(s.messages):
            message_id += 1
            yield {
                "id": message_id,
                "study_session_id": s.id,
                "role": roles[n % 2],
                "content": rng.choice(dialogue[n % 2]),
                "sent_at": s.started_at + _MESSAGE_GAPS[n],
            }


def evaluations(bp: Blueprint) -> Iterator[Row]:
    rng = _rng("evaluations")
    evaluation_id = 0
    for s in planned_sessions(bp):
        if s.status != "completed" or s.ended_at is None:
            continue
        evaluation_id += 1
        score = rng.randint(48, 99)
        feedback = content.FEEDBACK[(99 - score) * len(content.FEEDBACK) // 52]
        yield {
            "id": evaluation_id,
            "study_session_id": s.id,
            "evaluator_agent_id": EVALUATOR_AGENT_ID,
            "score": score,
            "feedback": feedback.format(topic=unit_title(s.unit_id).lower()),
            "evaluated_at": s.ended_at + timedelta(minutes=10),
        }


@cache
def _first_question(unit_id: int) -> int:
    """The id of the first question of the unit's test (ids run on, unit after unit)."""
    return 1 + sum(_questions_of_unit(u) for u in range(1, unit_id))


def _test_answers(s: PlannedSession) -> list[tuple[int, int, datetime]]:
    """(question id, choice id, answered at) of a completed session's submitted test: a
    question is answered right unless (session id + its index) is a multiple of 3, and
    then "None of the above" (the last choice). Answers come a minute apart, from eight
    minutes before the session ended."""
    assert s.ended_at is not None
    answers = []
    first = _first_question(s.unit_id)
    for n, question_id in enumerate(range(first, first + _questions_of_unit(s.unit_id))):
        position = CHOICES_PER_QUESTION if (s.id + n) % 3 == 0 else question_id % 3 + 1
        choice_id = (question_id - 1) * CHOICES_PER_QUESTION + position
        answers.append((question_id, choice_id, s.ended_at - timedelta(minutes=7 - n)))
    return answers


def _tested(bp: Blueprint) -> Iterator[PlannedSession]:
    """The sessions with a submitted test: the completed ones."""
    return (s for s in planned_sessions(bp) if s.status == "completed" and s.ended_at)


def assessment_attempts(bp: Blueprint) -> Iterator[Row]:
    # Sample data: a unit's test has the unit's id.
    for attempt_id, s in enumerate(_tested(bp), start=1):
        answers = _test_answers(s)
        assert s.ended_at is not None
        yield {
            "id": attempt_id,
            "student_id": s.student_id,
            "study_session_id": s.id,
            "assessment_id": s.unit_id,
            "started_at": s.ended_at - timedelta(minutes=8),
            "answered_at": answers[-1][2],
            "submitted_at": s.ended_at - timedelta(minutes=1),
            "correct_count": sum(_is_right(c) for _, c, _ in answers),
            "question_count": len(answers),
        }


def _is_right(choice_id: int) -> bool:
    """Whether a sample choice is its question's correct one (see `assessment_choices`)."""
    question_id, position = divmod(choice_id - 1, CHOICES_PER_QUESTION)
    return position + 1 == (question_id + 1) % 3 + 1


def attempt_answers(bp: Blueprint) -> Iterator[Row]:
    answer_id = 0
    for attempt_id, s in enumerate(_tested(bp), start=1):
        for question_id, choice_id, answered_at in _test_answers(s):
            answer_id += 1
            yield {
                "id": answer_id,
                "attempt_id": attempt_id,
                "question_id": question_id,
                "choice_id": choice_id,
                "answered_at": answered_at,
            }


RowMaker = Callable[[Blueprint], Iterator[Row]]

# In foreign-key order: every row refers only to rows of tables listed before it.
TABLES: tuple[tuple[str, RowMaker], ...] = (
    ("schools", schools),
    ("school_classes", school_classes),
    ("subjects", subjects),
    ("courses", courses),
    ("learning_units", learning_units),
    ("assessments", assessments),
    ("assessment_questions", assessment_questions),
    ("assessment_choices", assessment_choices),
    ("qa_resources", qa_resources),
    ("ai_agents", ai_agents),
    ("users", users),
    ("parent_students", parent_students),
    ("enrollments", enrollments),
    ("study_sessions", study_sessions),
    ("study_messages", study_messages),
    ("evaluations", evaluations),
    ("assessment_attempts", assessment_attempts),
    ("attempt_answers", attempt_answers),
)


def expected_rows(bp: Blueprint) -> dict[str, int]:
    """How many rows each table gets, without making the big tables' rows."""
    counts = {name: sum(1 for _ in make(bp)) for name, make in TABLES[:10]}
    counts.update(
        users=MANAGERS + bp.students + bp.parents,
        parent_students=2 * bp.parents,
        enrollments=COURSES_PER_SCHOOL * bp.students,
        study_sessions=0,
        study_messages=0,
        evaluations=0,
        assessment_attempts=0,
        attempt_answers=0,
    )
    for s in planned_sessions(bp):
        counts["study_sessions"] += 1
        counts["study_messages"] += s.messages
        if s.status == "completed":
            counts["evaluations"] += 1
            counts["assessment_attempts"] += 1
            counts["attempt_answers"] += _questions_of_unit(s.unit_id)
    return counts


__all__ = [
    "BASE_DATE",
    "Blueprint",
    "CHOICES_PER_QUESTION",
    "CLASSES_PER_SCHOOL",
    "COURSES_PER_SCHOOL",
    "EMAIL_DOMAIN",
    "MANAGERS",
    "MESSAGE_SECONDS",
    "PlannedSession",
    "QA_PER_UNIT",
    "Row",
    "RowMaker",
    "SEED",
    "SESSIONS_PER_SCALE",
    "STUDENTS_PER_SCALE",
    "TABLES",
    "UNITS_PER_COURSE",
    "ai_agents",
    "assessment_attempts",
    "assessment_choices",
    "assessment_questions",
    "assessments",
    "attempt_answers",
    "courses",
    "enrollments",
    "evaluations",
    "expected_rows",
    "learning_units",
    "parent_students",
    "planned_sessions",
    "qa_resources",
    "school_classes",
    "schools",
    "study_messages",
    "study_sessions",
    "subjects",
    "unit_title",
    "users",
]
