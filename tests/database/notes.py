"""A tiny table of the tests' own, so the database-layer tests need no domain model."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("body", String(20), nullable=False),
    mysql_engine="InnoDB",
)


def create_notes(engine) -> None:  # type: ignore[no-untyped-def]
    metadata.create_all(engine)


def committed_ids(settings: DatabaseSettings) -> list[int]:
    """The note ids visible to a second, independent connection: only committed rows."""
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(notes.c.id).order_by(notes.c.id)))
    finally:
        engine.dispose()


def add_note(session, note_id: int, body: str = "x") -> None:  # type: ignore[no-untyped-def]
    session.execute(notes.insert().values(id=note_id, body=body))


class NoteBase(DeclarativeBase):
    metadata = metadata


class Note(NoteBase):
    """The ORM face of `notes`, for tests whose failure must happen at flush."""

    __table__ = notes
