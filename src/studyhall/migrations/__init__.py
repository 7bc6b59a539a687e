"""Schema migrations with Alembic: `upgrade`, `downgrade`, `stamp`, `current_revision`.

The Alembic environment is this package (`script_location = studyhall:migrations`), so it
ships in the wheel and needs no alembic.ini. The database comes from the target given, else
from `load_settings()` (DATABASE_URL, DB_*, or the embedded SQLite file).

Two ways build the schema, and they agree on its revision. `create_tables()` (what
`DatabaseManager.create_tables()` runs) builds the models' tables at once and, on a
database that had none, records the head revision with them: Alembic's recipe for a new
database, so a later `upgrade()` has nothing to do. `upgrade()` builds them revision by
revision. Tables with no record (made by `create_tables()` before it recorded one) are
refused by `upgrade()` with the command to run: `stamp()` once, when their schema is this
version's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import URL, Connection, make_url

from studyhall.config import DatabaseSettings, load_settings
from studyhall.db.backends import build_engine
from studyhall.db.engine import Database
from studyhall.db.schema import DDL_LOCK_TIMEOUT, ddl_connection
from studyhall.errors import MigrationError
from studyhall.log import get_logger
from studyhall.models import Base
from studyhall.models.constraints import schema_filter

log = get_logger(__name__)

SCRIPT_LOCATION = "studyhall:migrations"
# Alembic's revision symbols that need no script.
SYMBOLS = frozenset({"base", "head", "heads"})

# What names the database to migrate: a `Database` (e.g. `DatabaseManager.database()`),
# its settings, a URL, or None for the configuration (DATABASE_URL, DB_*, embedded).
Target = Database | DatabaseSettings | URL | str | None
# A target, or a connection to work in: its transaction is the caller's to commit.
Connectable = Target | Connection


def resolve(target: Target) -> DatabaseSettings:
    """The settings of the database that `target` names."""
    if target is None:
        return load_settings()
    if isinstance(target, Database):
        return target.settings
    if isinstance(target, DatabaseSettings):
        return target
    return DatabaseSettings(url=make_url(target), source="DATABASE_URL")


def alembic_config(target: Connectable = None) -> Config:
    """The Alembic Config of studyhall, bound to the database of `target`."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if isinstance(target, Connection):
        config.attributes["connection"] = target
    else:
        config.attributes["settings"] = resolve(target)
    return config


def scripts() -> ScriptDirectory:
    """The migration scripts of this version of studyhall."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return ScriptDirectory.from_config(config)


def upgrade(target: Connectable = None, revision: str = "head") -> None:
    """Migrate the database of `target` up to `revision` (default: the newest).

    Raises MigrationError, changing nothing, when the database has studyhall tables but
    no recorded revision, or records one these scripts do not know.
    """
    with _connected(target) as connection:
        _refuse_unknown_record(connection)
        _refuse_unrecorded_tables(connection)
    _run(command.upgrade, alembic_config(target), revision)


def downgrade(target: Connectable = None, revision: str = "base") -> None:
    """Migrate the database of `target` down to `revision` (default: no schema at all)."""
    with _connected(target) as connection:
        _refuse_unknown_record(connection)
    _run(command.downgrade, alembic_config(target), revision)


def stamp(target: Connectable = None, revision: str = "head", *, purge: bool = False) -> None:
    """Record `revision` (default: the newest) as the database's, changing no table.

    For tables built without a record whose schema is that revision's. `purge` deletes
    the recorded revision first (needed when these scripts do not know it). Raises
    MigrationError for a revision these scripts do not have, and for a database with none
    of the studyhall tables (a record would make `upgrade()` skip building them).
    """
    _require_script(revision)
    with _connected(target) as connection:
        if revision != "base" and not _studyhall_tables(connection):
            raise MigrationError(
                f"{_name(connection)} has none of the studyhall tables: recording a revision "
                "would make `studyhall-db migrate` skip building them. Run "
                "`studyhall-db migrate` to build them instead."
            )
        if not purge:
            _refuse_unknown_record(connection)
    _run(command.stamp, alembic_config(target), revision, purge=purge)


def create_tables(engine: Engine, *, lock_timeout: float = DDL_LOCK_TIMEOUT) -> list[str]:
    """Create every missing studyhall table; return the names of those created.

    On a database with none of them, the head revision is recorded in the same
    transaction, so `upgrade()` then has nothing to do (a stale record is replaced). On
    one that has some: at the head revision the missing tables are created; with no
    record they are created and no record is written (whether the others are this
    version's is not known: `stamp()` adopts them); at any other revision nothing is
    created and MigrationError says to migrate. Waits for locks as `ddl_connection` does.
    """
    names = [table.name for table in Base.metadata.sorted_tables]
    with ddl_connection(engine, lock_timeout, "create the tables", names) as connection:
        existing = set(inspect(connection).get_table_names())
        fresh = existing.isdisjoint(names)
        if not fresh:
            _refuse_other_revision(connection)
        Base.metadata.create_all(connection)
        if fresh:
            _run(command.stamp, alembic_config(connection), "head", purge=True)
        elif not _recorded(connection):
            log.warning(
                "%s has studyhall tables but no Alembic revision: if their schema is this "
                "version's, `studyhall-db stamp` records it.",
                _name(connection),
            )
    return [name for name in names if name not in existing]


def current_revision(target: Connectable = None) -> str | None:
    """The revision the database of `target` is at; None when it has none."""
    with _connected(target) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision of the migration scripts."""
    return scripts().get_current_head()


@contextlib.contextmanager
def _connected(target: Connectable) -> Iterator[Connection]:
    if isinstance(target, Connection):
        yield target
        return
    engine = build_engine(resolve(target), pooled=False)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def _run(step: Callable[..., Any], config: Config, *args: Any, **options: Any) -> None:
    """Run an Alembic command; its refusals become a one-line MigrationError."""
    try:
        step(config, *args, **options)
    except CommandError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MigrationError(f"Alembic refused: {reason}.") from exc


def _known() -> str:
    return ", ".join(script.revision for script in reversed(list(scripts().walk_revisions())))


def _require_script(revision: str) -> None:
    if revision in SYMBOLS:
        return
    try:
        scripts().get_revision(revision)
    except CommandError as exc:
        raise MigrationError(
            f"No revision {revision!r} in this version of studyhall (known revisions: {_known()})."
        ) from exc


def _name(connection: Connection) -> str:
    return f"The database {connection.engine.url.database!r}"


def _recorded(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()


def _studyhall_tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) & set(Base.metadata.tables)


def _refuse_unknown_record(connection: Connection) -> None:
    directory = scripts()
    for revision in _recorded(connection):
        try:
            directory.get_revision(revision)
        except CommandError as exc:
            raise MigrationError(
                f"{_name(connection)} records the revision {revision!r}, which this version "
                f"of studyhall does not know (known revisions: {_known()}): a newer version "
                "of studyhall migrated it. Use that version; or, if its schema is this "
                "version's, replace the record with `studyhall-db stamp --purge`."
            ) from exc


def _refuse_other_revision(connection: Connection) -> None:
    _refuse_unknown_record(connection)
    recorded = _recorded(connection)
    head = head_revision()
    if recorded and recorded != (head,):
        raise MigrationError(
            f"{_name(connection)} is at revision {', '.join(recorded)}, older than this "
            f"version's {head}: tables created now would stop its migrations. Run "
            "`studyhall-db migrate` to update it."
        )


def _refuse_unrecorded_tables(connection: Connection) -> None:
    if _recorded(connection) or not _studyhall_tables(connection):
        return
    differences = _differences(connection)
    if not differences:
        raise MigrationError(
            f"{_name(connection)} has the studyhall tables but no Alembic revision (they were "
            "built without one); its schema is this version's, so run `studyhall-db stamp` "
            "once to record it, and `studyhall-db migrate` then has nothing to do."
        )
    more = f", and {len(differences) - 1} more" if len(differences) > 1 else ""
    raise MigrationError(
        f"{_name(connection)} has studyhall tables but no Alembic revision, and its schema "
        f"is not this version's ({_describe(differences[0])}{more}). Record the revision "
        "whose schema it has with `studyhall-db stamp REVISION` (known revisions: "
        f"{_known()}), then run `studyhall-db migrate`."
    )


def _differences(connection: Connection) -> list[Any]:
    """What the models need that the database's studyhall tables lack, and the reverse."""

    def ours(name: str | None, kind: str, parents: Any) -> bool:
        return kind != "table" or name in Base.metadata.tables

    include_object = schema_filter(Base.metadata, connection.dialect.name)
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_name": ours, "include_object": include_object},
    )
    return list(compare_metadata(context, Base.metadata))


def _describe(difference: Any) -> str:
    """E.g. "add_index ix_courses_grade_level" or "add_column courses.description"."""
    step = difference[0] if isinstance(difference, list) else difference
    kind, *parts = step
    names = [part if isinstance(part, str) else getattr(part, "name", None) for part in parts]
    return f"{kind} {'.'.join(name for name in names[:3] if name)}".strip()


__all__ = [
    "SCRIPT_LOCATION",
    "SYMBOLS",
    "Connectable",
    "Target",
    "alembic_config",
    "create_tables",
    "current_revision",
    "downgrade",
    "head_revision",
    "resolve",
    "scripts",
    "stamp",
    "upgrade",
]
