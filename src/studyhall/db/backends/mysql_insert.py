"""Bulk INSERTs on MySQL / MariaDB through PyMySQL: rows rendered as literal values.

PyMySQL has no server-side parameters: its executemany renders every value into the text
of multi-row INSERTs itself, dispatching on each value's type, three Python calls deep per
value. `InsertRenderer` renders the same text a column at a time instead: a column whose
values are all of one common type (int, str, naive datetime) goes through one C-level map,
which makes the rendering about twice as fast. The literals are PyMySQL's own: the same
escapes (or only doubled quotes when the session has NO_BACKSLASH_ESCAPES), the same
datetime text; any other type is left to PyMySQL's `escape`.

`run_inserts` sends the statements on the connection's driver connection, in its
transaction, so the statement events and the slow-statement log, which would show the
values, never see them (as with COPY on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, repeat
from typing import Any

from pymysql.constants import SERVER_STATUS  # type: ignore[import-untyped]
from sqlalchemy import Connection, Table
from sqlalchemy.sql.compiler import IdentifierPreparer

# Well under every server's max_allowed_packet (MySQL's smallest default is 4 MiB) even
# if every character took 4 bytes in utf8mb4; PyMySQL's executemany cuts at ~1 MB too.
MAX_STATEMENT_CHARS = 250_000

# MySQL's escapes in a quoted string (what PyMySQL's escape_string does).
_BACKSLASH_ESCAPES = str.maketrans(
    {"\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z", "\\": "\\\\", "'": "\\'", '"': '\\"'}
)
# Under NO_BACKSLASH_ESCAPES a backslash is an ordinary character: only quotes are doubled.
_QUOTE_ESCAPES = str.maketrans({"'": "''"})


def no_backslash_escapes(conn: Connection) -> bool:
    """Whether the session's sql_mode has NO_BACKSLASH_ESCAPES (the server tells PyMySQL)."""
    status: int = conn.connection.driver_connection.server_status  # type: ignore[union-attr]
    return bool(status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES)


@dataclass(frozen=True)
class InsertRenderer:
    """Renders multi-row INSERTs as one connection's session reads them.

    It holds what it needs of the connection (quoting, the session's escaping), so it
    may render in another thread while the connection runs the previous statements.
    """

    preparer: IdentifierPreparer
    escapes: dict[int, str]
    # PyMySQL's own literal of a value of any type.
    escape: Callable[[Any], str]
    max_chars: int = MAX_STATEMENT_CHARS

    @classmethod
    def of(cls, conn: Connection, *, max_chars: int = MAX_STATEMENT_CHARS) -> InsertRenderer:
        """The renderer for `conn`'s session as it is now."""
        escapes = _QUOTE_ESCAPES if no_backslash_escapes(conn) else _BACKSLASH_ESCAPES
        driver: Any = conn.connection.driver_connection
        return cls(conn.dialect.identifier_preparer, escapes, driver.escape, max_chars)

    def render(
        self, table: Table, columns: Sequence[str], values: Sequence[Sequence[Any]]
    ) -> list[str]:
        """INSERTs of `values` (one sequence per column, bind-processed) into `table`.

        Each statement is at most `max_chars` long, unless one row alone is longer.
        """
        formats, literals = [], []
        for column in values:
            text, rendered = _literals(column, self.escapes, self.escape)
            formats.append(text)
            literals.append(rendered)
        rows = list(map(f"({','.join(formats)})".format, *literals))
        quote = self.preparer
        names = ", ".join(quote.format_column(table.c[name]) for name in columns)
        # Names from the model's metadata, quoted by the dialect; every value is escaped.
        head = f"INSERT INTO {quote.format_table(table)} ({names}) VALUES "  # noqa: S608
        return [head + ",".join(part) for part in _parts(rows, self.max_chars - len(head))]


def run_inserts(conn: Connection, statements: Iterable[str]) -> None:
    """Send `statements` on `conn`'s driver connection, in its transaction.

    A driver error comes out as Core's would: the engine's `handle_error` listeners see
    it, and a lost connection is invalidated.
    """
    cursor: Any = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    statement = ""
    try:
        for statement in statements:
            cursor.execute(statement)
    except conn.dialect.loaded_dbapi.Error as exc:
        # Only the head of the statement: its values stay out of messages.
        head = statement.partition(" VALUES ")[0] + " VALUES ..."
        conn._handle_dbapi_exception(exc, head, None, cursor, None)
    finally:
        cursor.close()


def _literals(
    column: Sequence[Any], escapes: dict[int, str], escape: Callable[[Any], str]
) -> tuple[str, Iterable[str]]:
    """The format of the column's field in a row ("{}" or "'{}'") and its rendered values."""
    kinds = set(map(type, column))
    if kinds == {int}:
        return "{}", map(int.__repr__, column)
    if kinds == {str}:
        return "'{}'", map(str.translate, column, repeat(escapes))
    if kinds == {datetime} and not any(value.tzinfo for value in column):
        # Naive datetimes: PyMySQL's own text (microseconds only when there are any).
        return "'{}'", map(datetime.isoformat, column, repeat(" "))
    # Mixed (NULLs among them) or other types: one value at a time.
    return "{}", [_literal(value, escapes, escape) for value in column]


def _literal(value: Any, escapes: dict[int, str], escape: Callable[[Any], str]) -> str:
    kind = type(value)
    if value is None:
        return "NULL"
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return "'" + str.translate(value, escapes) + "'"
    if kind is datetime and value.tzinfo is None:
        return "'" + datetime.isoformat(value, " ") + "'"
    return escape(value)


def _parts(rows: list[str], budget: int) -> Iterator[list[str]]:
    """`rows` in consecutive runs whose text (with separating commas) fits in `budget`."""
    start, used = 0, 0
    for end, total in enumerate(accumulate(len(row) + 1 for row in rows)):
        if total - used > budget and end > start:
            yield rows[start:end]
            start, used = end, total - len(rows[end]) - 1
    if start < len(rows):
        yield rows[start:]


__all__ = ["MAX_STATEMENT_CHARS", "InsertRenderer", "no_backslash_escapes", "run_inserts"]
