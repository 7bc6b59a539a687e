"""The Teacher's reply on a seeded scale-100 database: its latency per backend.

Each backend gets a throwaway database with the sample data at scale 100 (2,400 students,
2,000 study sessions, 90 Q&A resources, 30 units). Students of the active sessions ask
questions, a third of them about nothing in the course; each question is committed with
its `teacher.reply` job (as the web app does), and is then answered two ways, alternating:

- handler: `answer_message` in its own unit of work, what the job's handler does (the
  full-text search, the agent, the reply's INSERT, COMMIT);
- job: `Worker.run_pending(limit=1)`, the whole job (claim, the handler's unit of work
  that also marks the job done).

Printed: p50, p95 and max per backend and way, in ms, with the machine. Target (issue 11):
the reply job's p95 < 50 ms.

Run: `.venv/bin/python -m benchmarks.teacher [--questions 300] [--backend sqlite ...]`.
MariaDB and PostgreSQL are reached through STUDYHALL_BENCH_MARIADB_URL and
STUDYHALL_BENCH_POSTGRESQL_URL (defaults: root@127.0.0.1:3306, postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import machine
from benchmarks.seeding import BACKENDS, settings_for
from studyhall.database import DatabaseManager
from studyhall.db.backends import drop_database, ensure_database
from studyhall.jobs import Worker, load_builtin_handlers
from studyhall.models import LearningUnit, MessageRole, SessionStatus, StudySession
from studyhall.queries.material_search import search_material
from studyhall.services.study_session import lifecycle
from studyhall.services.teacher_replies import REPLY_JOB, answer_message

SCALE = 100
TARGET_MS = 50.0
QUESTIONS = (
    "What does {topic} mean?",
    "Where is {topic} used outside school, in daily life?",
    "How can I check my work on {topic}?",
    "Can you explain {topic} again with an example?",
    "Tell me about volcanoes and the solar system",  # nothing in any course
    "Why is the sky blue at sunset?",  # nothing either
)


def ask_all(count: int) -> list[int]:
    """`count` committed student questions in the active sessions; their message ids."""
    with DatabaseManager.get_session(read_only=True) as session:
        rows = session.execute(
            select(StudySession.id, LearningUnit.title)
            .join(LearningUnit, LearningUnit.id == StudySession.learning_unit_id)
            .where(StudySession.status == SessionStatus.ACTIVE)
            .order_by(StudySession.id)
        ).all()
    ids = []
    for n in range(count):
        session_id, title = rows[n % len(rows)]
        text = QUESTIONS[n % len(QUESTIONS)].format(topic=title.lower())
        with DatabaseManager.get_session():
            ids.append(lifecycle.add_message(session_id, MessageRole.STUDENT, text).id)
    return ids


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bench_backend(backend: str, questions: int, workdir: Path) -> dict[str, list[float]]:
    settings = settings_for(backend, workdir)
    ensure_database(settings)
    try:
        DatabaseManager.initialize(settings)
        DatabaseManager.create_tables()
        DatabaseManager.populate_sample_data(scale=SCALE)
        worker = Worker(kinds=[REPLY_JOB], listen=False)
        warm = ask_all(20)
        worker.run_pending()
        for message_id in warm:  # the handler's way too, already answered
            with DatabaseManager.get_session():
                answer_message(message_id, search_material)
        times: dict[str, list[float]] = {"handler": [], "job": []}
        for n, message_id in enumerate(ask_all(questions)):
            started = time.perf_counter()
            if n % 2:
                with DatabaseManager.get_session():
                    answer_message(message_id, search_material)
                way = "handler"
            else:
                ran = worker.run_pending(limit=1)
                way = "job"
                assert ran == 1
            times[way].append((time.perf_counter() - started) * 1000)
            if n % 2:  # its job now finds the reply written: run it outside the timing
                worker.run_pending(limit=1)
        return times
    finally:
        DatabaseManager.cleanup()
        drop_database(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--backend", choices=sorted(BACKENDS), action="append")
    args = parser.parse_args(argv)
    load_builtin_handlers()
    print(f"Machine: {machine()}")
    print(f"Scale {SCALE}; {args.questions} questions per backend; target p95 < {TARGET_MS} ms")
    missed = False
    with tempfile.TemporaryDirectory(prefix="studyhall_teacher_") as tmp:
        for backend in args.backend or list(BACKENDS):
            times = bench_backend(backend, args.questions, Path(tmp))
            for way, values in times.items():
                p95 = percentile(values, 0.95)
                missed |= way == "job" and p95 >= TARGET_MS
                print(
                    f"  {BACKENDS[backend]:<10} {way:<8} n={len(values):>4}  "
                    f"p50 {statistics.median(values):6.2f} ms  p95 {p95:6.2f} ms  "
                    f"max {max(values):6.2f} ms  {'met' if p95 < TARGET_MS else 'MISSED'}"
                )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
