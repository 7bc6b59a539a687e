"""Deterministic, idempotent sample data at any scale: `populate()` and its summary.

Demo logins, all with the password `DEMO_PASSWORD` ("studyhall-demo"):
`student1@example.edu` (up to `student{24 x scale}`), `parent1@example.edu` (up to
`parent{12 x scale}`), `manager1@example.edu` and `manager2@example.edu`. User ids follow
that order: students first, so user 1 is `student1`.

The whole load is one transaction. Rows are made lazily (see `rows`) and inserted
in batches (the driver's executemany; COPY on PostgreSQL), so memory stays flat as the
scale grows.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Integer, Table, delete, func, insert, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from studyhall.db.backends import refresh_statistics
from studyhall.db.backends.mysql_insert import InsertRenderer, run_inserts
from studyhall.db.backends.postgresql import copy_rows
from studyhall.db.engine import Database
from studyhall.errors import (
    CommitOutcomeUnknownError,
    DatabaseUnavailableError,
    DataConflictError,
    SchemaError,
    StudyhallError,
)
from studyhall.models import Base
from studyhall.sample_data.read_ahead import read_ahead
from studyhall.sample_data.rows import (
    BASE_DATE,
    EMAIL_DOMAIN,
    TABLES,
    Blueprint,
    Row,
    expected_rows,
)

DEMO_PASSWORD = "studyhall-demo"
# The one hash every sample-data user gets: werkzeug's generate_password_hash(DEMO_PASSWORD),
# made once and written down. The password is published, so a fixed salt hides nothing,
# while hashing at every load cost a deliberately slow scrypt run (~0.1 s, a sixth of a
# scale-100 load) and gave every load different users' rows.
DEMO_PASSWORD_HASH = (
    "scrypt:32768:8:1$FLqFc1i7N1U1e7us$6e17516126d721b276213dc9aa902c9dfa1db7920f98fc82b32a"
    "21be9e134a98074cea2730d4ee6ea4e06ac070e5ced8b128842ab05efa4b1fe447e58d852793"
)
DEMO_LOGINS = tuple(f"{role}1@{EMAIL_DOMAIN}" for role in ("student", "parent", "manager"))
# Present exactly when the sample data is loaded (the load is atomic).
MARKER_EMAIL = f"manager1@{EMAIL_DOMAIN}"
BATCH_SIZE = 2000

Progress = Callable[[int], None]

COMMIT_UNKNOWN_MESSAGE = (
    "The sample data's COMMIT was sent, but the connection was lost before the server "
    "answered: the data may or may not be loaded. Loading again is safe: run the same "
    "command again (`studyhall-db seed`, or populate_sample_data()); it loads the data if "
    "it is missing and says 'already loaded' if it is there. `studyhall-db status` shows "
    "the row counts."
)


@dataclass(frozen=True)
class SampleDataSummary:
    """What `populate()` did: rows inserted (and deleted) per table, and how long it took."""

    scale: int
    loaded: bool
    rows: Mapping[str, int] = field(default_factory=dict)
    deleted: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    demo_logins: tuple[str, ...] = DEMO_LOGINS
    # The scale of the sample data found in the database, when nothing was loaded.
    loaded_scale: int | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def __str__(self) -> str:
        if not self.loaded and self.loaded_scale not in (None, self.scale):
            head = (
                f"Sample data is already loaded at scale {self.loaded_scale}, not "
                f"{self.scale}: nothing changed. To reload it at scale {self.scale}, run "
                f"`studyhall-db seed --clear --scale {self.scale}` (or pass "
                "clear_existing=True), which deletes every row first."
            )
            return f"{head}\nDemo logins: {', '.join(self.demo_logins)}"
        if not self.loaded:
            head = (
                "Sample data is already loaded: nothing changed. Pass clear_existing=True "
                "(`studyhall-db seed --clear`) to delete every row and load it afresh."
            )
            return f"{head}\nDemo logins: {', '.join(self.demo_logins)}"
        cleared = sum(self.deleted.values())
        head = (
            f"Loaded the sample data at scale {self.scale}: {self.total_rows:,} rows in "
            f"{self.seconds:.2f} s"
            + (f", after deleting {cleared:,} existing rows." if self.deleted else ".")
        )
        width = max(map(len, self.rows))
        table = [f"  {name:<{width}}  {count:>9,}" for name, count in self.rows.items()]
        return "\n".join([head, *table, f"Demo logins: {', '.join(self.demo_logins)}"])


def planned_rows(scale: int) -> dict[str, int]:
    """The rows per table that `populate(scale=scale)` inserts into an empty database."""
    return expected_rows(Blueprint(_checked(scale), password_hash=""))


def populate(
    database: Database,
    *,
    clear_existing: bool = False,
    scale: int = 1,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> SampleDataSummary:
    """Load the sample data at `scale` in one transaction; return what was done.

    Without `clear_existing`, a database that already holds the sample data is left
    unchanged; one holding other rows is refused (DataConflictError). With it, every row
    of every studyhall table is deleted first (in the same transaction). `progress` is
    called with the number of rows of each inserted batch.
    """
    scale = _checked(scale)
    started = time.perf_counter()
    tables = _tables()
    try:
        with _transaction(database) as conn:
            _require_tables(conn, tables)
            deleted: dict[str, int] = {}
            if clear_existing:
                deleted = _delete_all(conn, tables)
            elif (marker := _marker_id(conn, tables["users"])) is not None:
                return SampleDataSummary(scale, False, loaded_scale=_scale_of(marker))
            else:
                _refuse_other_data(conn, tables, database.settings.database)
            blueprint = Blueprint(scale, DEMO_PASSWORD_HASH)
            rows = _load(conn, tables, blueprint, batch_size, progress)
            _advance_sequences(conn, tables.values())
    except IntegrityError:
        # Another load (two `setup`s at once) committed the same ids after our check.
        if clear_existing or not _loaded_meanwhile(database, tables["users"]):
            raise
        return SampleDataSummary(scale=scale, loaded=False)
    # The planner must know what was loaded before the first page reads it.
    refresh_statistics(database.engine, [table.name for table in tables.values()])
    seconds = time.perf_counter() - started
    return SampleDataSummary(scale, True, rows, deleted, seconds)


@contextlib.contextmanager
def _transaction(database: Database) -> Iterator[Connection]:
    """`engine.begin()`, except that a COMMIT whose reply was lost says so.

    The load may then be in the database or not; loading again is safe either way.
    """
    with database.engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        except BaseException:
            transaction.rollback()
            raise
        try:
            transaction.commit()
        except (DBAPIError, StudyhallError) as exc:
            lost = isinstance(exc, DatabaseUnavailableError) or (
                isinstance(exc, DBAPIError) and exc.connection_invalidated
            )
            if lost:
                raise CommitOutcomeUnknownError(COMMIT_UNKNOWN_MESSAGE) from exc
            raise


def _checked(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"The scale must be a whole number of at least 1, not {scale!r}.")
    return scale


def _tables() -> dict[str, Table]:
    return {table.name: table for table in Base.metadata.sorted_tables}


def _require_tables(conn: Connection, tables: Mapping[str, Table]) -> None:
    missing = sorted(set(tables) - set(inspect(conn).get_table_names()))
    if missing:
        raise SchemaError(
            f"The database has no table {', '.join(missing)}. Create the tables first: "
            "`studyhall-db init` (or DatabaseManager.create_tables())."
        )


def _sample_data_present(conn: Connection, users: Table) -> bool:
    return _marker_id(conn, users) is not None


def _marker_id(conn: Connection, users: Table) -> int | None:
    query = select(users.c.id).where(users.c.email == MARKER_EMAIL)
    found: int | None = conn.execute(query).scalar()
    return found


def _scale_of(marker_id: int) -> int | None:
    """The scale whose load gave the marker (the first manager) this id, if any.

    Students and parents come first, in numbers proportional to the scale.
    """
    per_scale = Blueprint(1, password_hash="").manager_id(1) - 1
    scale, rest = divmod(marker_id - 1, per_scale)
    return scale if rest == 0 and scale >= 1 else None


def _loaded_meanwhile(database: Database, users: Table) -> bool:
    with database.engine.connect() as conn:
        return _sample_data_present(conn, users)


def _refuse_other_data(conn: Connection, tables: Mapping[str, Table], name: str | None) -> None:
    filled = [n for n, t in tables.items() if conn.execute(select(t).limit(1)).first()]
    if filled:
        raise DataConflictError(
            f"The database {name!r} holds rows that are not the sample data (in "
            f"{', '.join(filled)}), and loading would mix the two. Load into an empty "
            "database, or delete every row first with clear_existing=True "
            "(`studyhall-db seed --clear`)."
        )


def _delete_all(conn: Connection, tables: Mapping[str, Table]) -> dict[str, int]:
    """Delete every row, children before parents, so no foreign key is ever violated."""
    deleted: dict[str, int] = {}
    for table in reversed(list(tables.values())):
        deleted[table.name] = conn.execute(delete(table)).rowcount
    return deleted


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class _Batch:
    """Rows of one table, ready to insert; on PyMySQL, with their INSERTs rendered ahead."""

    rows: list[Row]
    statements: list[str] | None = None


def _load(
    conn: Connection,
    tables: Mapping[str, Table],
    blueprint: Blueprint,
    batch_size: int,
    progress: Progress | None,
) -> dict[str, int]:
    """Insert the rows of every table in batches; return how many went into each.

    On MySQL / MariaDB through PyMySQL, the next batch is made and rendered in a worker
    thread (`read_ahead`) while the server inserts the last one: the caller's thread
    then mostly waits for the server's reply, with the GIL released. Only making rows
    and text moves to the worker; every statement is still sent by the caller, on `conn`,
    in its transaction, in the same order.
    """
    counts = dict.fromkeys((name for name, _ in TABLES), 0)
    renderer = InsertRenderer.of(conn) if conn.dialect.driver == "pymysql" else None
    batches = _batches(conn.dialect, tables, blueprint, batch_size, renderer)
    ahead = read_ahead(batches) if renderer else contextlib.nullcontext(batches)
    with ahead as ready:
        for table, batch in ready:
            _insert_batch(conn, table, batch)
            counts[table.name] += len(batch.rows)
            if progress is not None:
                progress(len(batch.rows))
    return counts


def _batches(
    dialect: Dialect,
    tables: Mapping[str, Table],
    blueprint: Blueprint,
    batch_size: int,
    renderer: InsertRenderer | None,
) -> Iterator[tuple[Table, _Batch]]:
    """Every table's rows (in TABLES order) in batches of `batch_size`, made lazily."""
    for name, make in TABLES:
        table = tables[name]
        for chunk in _chunks(make(blueprint), batch_size):
            _fill_clock_columns(table, chunk)
            plan = _plan(dialect, table, tuple(chunk[0]))
            if renderer is None or plan is None:
                yield table, _Batch(chunk)
            else:
                yield table, _Batch(chunk, renderer.render(table, plan.keys, plan.columns(chunk)))


def _fill_clock_columns(table: Table, chunk: list[Row]) -> None:
    """Give columns that default to a function (the clock) the row's own creation time.

    Rows name their timestamps, but a column added to the model later (e.g. an
    `updated_at`) would otherwise get the wall clock and break determinism.
    """
    missing = [
        column.name
        for column in table.c
        if column.name not in chunk[0]
        and column.default is not None
        and getattr(column.default, "is_callable", False)
    ]
    if not missing:
        return
    for row in chunk:
        moment = row.get("created_at", BASE_DATE)
        row.update(dict.fromkeys(missing, moment))


def _insert_batch(conn: Connection, table: Table, batch: _Batch) -> None:
    """Insert `batch` the fastest way the driver offers, storing what Core would store.

    Core's executemany would process each row through its generic parameter handling;
    here each column's own bind processor (datetimes as text on SQLite, enums, strict
    booleans) is applied directly, so the stored values are those Core would store. The
    values then go: on MySQL / MariaDB through PyMySQL, as multi-row INSERTs rendered a
    column at a time (`mysql_insert`; about twice as fast as PyMySQL's executemany, which
    renders value by value); on PostgreSQL through COPY ... FROM STDIN, about twice as
    fast as an executemany; elsewhere (sqlite3, mysqlclient) to the driver's executemany
    of a precompiled positional INSERT. A dialect of another parameter style goes
    through Core.
    """
    if batch.statements is not None:
        run_inserts(conn, batch.statements)
        return
    chunk = batch.rows
    keys = tuple(chunk[0])
    plan = _plan(conn.dialect, table, keys)
    if plan is None:
        conn.execute(insert(table), chunk)
    elif conn.dialect.name == "postgresql":
        copy_rows(conn, table, keys, map(plan.values, chunk))
    else:
        conn.exec_driver_sql(plan.sql, [plan.values(row) for row in chunk])


_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


_Values = Callable[[Row], tuple[Any, ...]]


@dataclass(frozen=True)
class _Plan:
    """How rows of `keys` go into a table: a positional INSERT and the bind processors."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    # A row's parameters in the order of the INSERT.
    values: _Values

    def columns(self, chunk: list[Row]) -> list[list[Any]]:
        """The chunk's parameters a column at a time, in the order of the INSERT."""
        columns = []
        for key, process in zip(self.keys, self.processors, strict=True):
            column = list(map(itemgetter(key), chunk))
            columns.append(column if process is None else _processed(process, column))
        return columns


# Types whose equal values are interchangeable: a bind processor gives each the same result.
_PLAIN = frozenset({str, int, bool})


def _processed(process: Callable[[Any], Any], column: list[Any]) -> list[Any]:
    """`process` applied to every value; once per distinct value when they are plain.

    An enum column holds a handful of distinct strings: its processor (a Python
    TypeDecorator call, ~3 us) then runs a handful of times instead of once a row.
    """
    kinds = set(map(type, column))
    if len(kinds) != 1 or not kinds <= _PLAIN:
        return list(map(process, column))
    done = {value: process(value) for value in set(column)}
    return list(map(done.__getitem__, column))


@lru_cache(maxsize=256)
def _plan(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Plan | None:
    """The positional INSERT of `keys` into `table`, and how a row becomes its parameters."""
    marker = _MARKERS.get(dialect.paramstyle)
    if marker is None or not keys:
        return None
    columns = [table.c[key] for key in keys]
    quote = dialect.identifier_preparer
    # Names from the model's metadata, quoted by the dialect; the values are parameters.
    names = ", ".join(quote.format_column(column) for column in columns)
    markers = ", ".join([marker] * len(columns))
    sql = f"INSERT INTO {quote.format_table(table)} ({names}) VALUES ({markers})"  # noqa: S608
    processors = tuple(
        column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns
    )
    indexed = [(index, process) for index, process in enumerate(processors) if process]
    take: _Values = itemgetter(*keys) if len(keys) > 1 else lambda row: (row[keys[0]],)
    if not indexed:
        return _Plan(sql, keys, processors, take)

    def values(row: Row) -> tuple[Any, ...]:
        found = list(take(row))
        for index, process in indexed:
            found[index] = process(found[index])
        return tuple(found)

    return _Plan(sql, keys, processors, values)


def _advance_sequences(conn: Connection, tables: Iterable[Table]) -> None:
    """On PostgreSQL, move each id sequence past the explicit ids we inserted.

    MySQL, MariaDB and SQLite advance their counters themselves; PostgreSQL would
    otherwise hand out id 1 to the next row the application inserts.
    """
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        column: Any = table.c.get("id")
        # A key that is not a serial number (user_sessions: a token's hash) has no sequence.
        if column is None or not column.primary_key or not isinstance(column.type, Integer):
            continue
        next_id = select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, "id")
        conn.execute(select(func.setval(sequence, next_id, False)))


__all__ = [
    "BATCH_SIZE",
    "COMMIT_UNKNOWN_MESSAGE",
    "DEMO_LOGINS",
    "DEMO_PASSWORD",
    "DEMO_PASSWORD_HASH",
    "MARKER_EMAIL",
    "Progress",
    "SampleDataSummary",
    "planned_rows",
    "populate",
]
