"""Pages of model rows: offset pages (`Model.page`) and keyset pages (`Model.keyset_page`).

An offset page is numbered, like Flask-SQLAlchemy's `Pagination`; its cost grows with its
depth. A keyset page continues after an opaque cursor: it costs the same at any depth
(with an index on the filter and order columns) and never repeats or skips a row when rows
are inserted between two pages.

A cursor holds the model, the order and the last row's key values, signed with an HMAC. The
signing key is set once per process by `set_cursor_key(secret)`: the web app's `create_app`
calls it with its SECRET_KEY, so cursors survive restarts and work across workers. Until
then a random key of this process signs them: cursors work only within this process.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import decimal
import functools
import hashlib
import hmac
import json
import math
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.orm.exc import UnmappedColumnError
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from studyhall.db.transaction import get_current_session
from studyhall.errors import ConfigurationError
from studyhall.models.errors import InvalidCursorError, InvalidFilterError
from studyhall.models.filters import check_value

if TYPE_CHECKING:
    from studyhall.models.base import Base

M = TypeVar("M", bound="Base")

MAX_PER_PAGE = 100
# Longer than any cursor this module makes for the project's models; refused unread.
MAX_CURSOR_LENGTH = 2048
_KEY_PURPOSE = b"studyhall.models.pagination cursor"
_RESTART = "Start again from the first page (after=None) and follow each page's next_cursor."

OrderBy = str | QueryableAttribute[Any] | UnaryExpression[Any]


def _derive(secret: bytes) -> bytes:
    # A key of its own: a cursor's MAC can never be replayed as, e.g., a Flask session's.
    return hmac.new(secret, _KEY_PURPOSE, hashlib.sha256).digest()


_key = _derive(secrets.token_bytes(32))


def set_cursor_key(secret: str | bytes | None) -> None:
    """Sign and check cursors with a key derived from `secret` (the app's SECRET_KEY).

    None goes back to a random key of this process. Called by the app's `create_app`;
    never by lower layers. Raises ConfigurationError for an empty secret.
    """
    global _key
    if secret is None:
        _key = _derive(secrets.token_bytes(32))
        return
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ConfigurationError(
            "The cursor key is empty. Pass the app's SECRET_KEY to set_cursor_key()."
        )
    _key = _derive(raw)


@dataclass(frozen=True)
class Page(Generic[M]):
    """One numbered page of rows; `total` and `pages` are None unless a count was asked."""

    items: tuple[M, ...]
    page: int
    per_page: int
    total: int | None
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def pages(self) -> int | None:
        return None if self.total is None else math.ceil(self.total / self.per_page)

    def __iter__(self) -> Iterator[M]:
        return iter(self.items)


@dataclass(frozen=True)
class KeysetPage(Generic[M]):
    """Rows after a cursor; `next_cursor` continues after the last of them (None at the end)."""

    items: tuple[M, ...]
    per_page: int
    has_next: bool
    next_cursor: str | None

    def __iter__(self) -> Iterator[M]:
        return iter(self.items)


def offset_page(
    model: type[M],
    page: int,
    per_page: int,
    count: bool,
    order_by: OrderBy | Sequence[OrderBy] | None,
    filters: dict[str, Any],
) -> Page[M]:
    """Page `page` of the rows matching `filters`; see `Base.page`."""
    if not _is_int(page) or page < 1:
        raise InvalidFilterError(f"page must be an int >= 1; it was given {page!r}.")
    _check_per_page(per_page)
    order = _order(model, order_by)
    criteria = model.filter_criteria(filters)
    query = select(model).where(*criteria).order_by(*_order_clauses(model, order))
    query = _index_hint(query, model, filters, order)
    session = get_current_session()
    rows = list(session.scalars(query.offset((page - 1) * per_page).limit(per_page + 1)))
    total = model.count(**filters) if count else None
    return Page(tuple(rows[:per_page]), page, per_page, total, len(rows) > per_page)


def keyset_page(
    model: type[M],
    after: str | None,
    per_page: int,
    order_by: OrderBy | Sequence[OrderBy] | None,
    filters: dict[str, Any],
) -> KeysetPage[M]:
    """The rows matching `filters` after the cursor `after`; see `Base.keyset_page`."""
    _check_per_page(per_page)
    order = _order(model, order_by)
    criteria = model.filter_criteria(filters)
    if after is not None:
        values = _read_cursor(model, order, after)
        criteria.append(_after(model, order, values))
    keys = [getattr(model, name) for name, _ in order]
    # The key values are read from the database, not from the objects: an object already
    # in the session may hold a value the column stored with less precision.
    query: Select[Any] = (
        select(model, *keys).where(*criteria).order_by(*_order_clauses(model, order))
    )
    query = _index_hint(query, model, filters, order)
    rows = list(get_current_session().execute(query.limit(per_page + 1)))
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    cursor = _make_cursor(model, order, list(rows[-1][1:])) if has_next else None
    return KeysetPage(tuple(row[0] for row in rows), per_page, has_next, cursor)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_per_page(per_page: object) -> None:
    if not _is_int(per_page) or not 1 <= per_page <= MAX_PER_PAGE:  # type: ignore[operator]
        raise InvalidFilterError(
            f"per_page must be an int from 1 to {MAX_PER_PAGE}; it was given {per_page!r}."
        )


# -- order -----------------------------------------------------------------------------------


def _order(
    model: type[Base], order_by: OrderBy | Sequence[OrderBy] | None
) -> list[tuple[str, bool]]:
    """(column name, descending) pairs, ending with the primary key as a tie-breaker."""
    given: Sequence[object]
    if order_by is None:
        given = []
    elif isinstance(order_by, (list, tuple)):
        given = order_by
    else:
        given = [order_by]
    order = [_order_item(model, item) for item in given]
    valid = model.filterable_fields()
    for name, _ in order:
        if name not in valid:
            secret = (
                f" ({name} is secret and can never be ordered by)"
                if name in model.__secret_fields__
                else ""
            )
            raise InvalidFilterError(
                f"{model.__name__} cannot be ordered by {name!r}{secret}. "
                f"Use only these fields: {', '.join(valid)}."
            )
    descending = order[-1][1] if order else False
    named = {name for name, _ in order}
    mapper = sa_inspect(model)
    keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    order += [(name, descending) for name in keys if name not in named]
    return order


def _order_item(model: type[Base], item: object) -> tuple[str, bool]:
    if isinstance(item, str):
        return (item[1:], True) if item.startswith("-") else (item, False)
    descending = False
    if isinstance(item, UnaryExpression) and item.modifier in (
        operators.desc_op,
        operators.asc_op,
    ):
        descending = item.modifier is operators.desc_op
        item = item.element
    owner = getattr(item, "class_", None)
    if isinstance(item, QueryableAttribute) and isinstance(owner, type):
        if issubclass(model, owner):
            return item.key, descending
    elif isinstance(item, ColumnElement):
        with contextlib.suppress(UnmappedColumnError):
            return sa_inspect(model).get_property_by_column(item).key, descending
    raise InvalidFilterError(
        f"order_by takes column names ('name', '-name' for descending), {model.__name__}'s "
        f"columns or their .desc(); it was given a {type(item).__name__}."
    )


# Dialects whose optimizer is told which index serves a page (see _index_hint).
_HINTED_DIALECTS: tuple[str, ...] = ("mysql", "mariadb")


def _dialect_name(model: type[Base]) -> str:
    return get_current_session().get_bind(mapper=sa_inspect(model)).dialect.name


def _index_hint(
    query: Select[Any], model: type[Base], filters: dict[str, Any], order: list[tuple[str, bool]]
) -> Select[Any]:
    """`query` with FORCE INDEX on MySQL / MariaDB when an index serves its filter and order.

    An index serves a page when it starts with the columns the filters hold equal to one
    value (in any order), then the page's first order column. MariaDB 10.11 otherwise may
    pick a `ref` scan on the equality columns alone and walk every row in front of the
    cursor (page 1,000 of a 25,000-session history: 1.9x page 1 instead of flat). Other
    backends are not told: their planners take the range.
    """
    dialect = _dialect_name(model)
    if dialect not in _HINTED_DIALECTS:
        return query
    table = sa_inspect(model).local_table
    equal = frozenset(
        name
        for name, value in filters.items()
        if value is not None and not isinstance(value, (list, tuple, set, frozenset))
    )
    name = _serving_index(model, equal, tuple(name for name, _ in order))
    if name is None:
        return query
    hint = f"FORCE INDEX ({name})"
    for dialect_name in _HINTED_DIALECTS:
        query = query.with_hint(table, hint, dialect_name=dialect_name)
    return query


@functools.cache
def _serving_index(model: type[Base], equal: frozenset[str], order: tuple[str, ...]) -> str | None:
    """The name of the index of `model` that starts with `equal` then the first of `order`.

    Of several, the one that continues with most of `order` (it spares a sort), then the
    shortest (the least to read per row).
    """
    table = sa_inspect(model).local_table
    columns = {getattr(model, name).property.columns[0] for name in (*equal, order[0])}
    if any(column.table is not table for column in columns):
        return None
    wanted = [getattr(model, name).property.columns[0] for name in sorted(equal)]
    order_columns = [getattr(model, name).property.columns[0] for name in order]
    order_column = order_columns[0]
    found: list[tuple[int, int, str]] = []
    for index in getattr(table, "indexes", ()):
        leading = []
        for expression in index.expressions:
            if isinstance(expression, UnaryExpression):
                expression = expression.element
            leading.append(expression)
        head = leading[: len(wanted)]
        if (
            isinstance(index.name, str)
            and len(leading) > len(wanted)
            and {id(c) for c in head} == {id(c) for c in wanted}
            and leading[len(wanted)] is order_column
        ):
            served = 0
            for expression, column in zip(leading[len(wanted) :], order_columns, strict=False):
                if expression is not column:
                    break
                served += 1
            found.append((-served, len(leading), str(index.name)))
    return min(found)[2] if found else None


def _nullable(model: type[Base], name: str) -> bool:
    return bool(getattr(model, name).property.columns[0].nullable)


def _order_clauses(model: type[Base], order: list[tuple[str, bool]]) -> list[Any]:
    # NULL is the smallest value, as MariaDB and SQLite sort it; PostgreSQL is told so.
    # (MariaDB has no NULLS FIRST/LAST syntax.)
    postgresql = _dialect_name(model) == "postgresql"
    clauses = []
    for name, descending in order:
        attribute = getattr(model, name)
        clause = attribute.desc() if descending else attribute.asc()
        if postgresql and _nullable(model, name):
            clause = clause.nulls_last() if descending else clause.nulls_first()
        clauses.append(clause)
    return clauses


def _after(
    model: type[Base], order: list[tuple[str, bool]], values: list[Any]
) -> ColumnElement[bool]:
    """Rows after `values` in `order`: (a > x) OR (a = x AND b > y) OR ..., NULL smallest."""
    branches: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for (name, descending), value in zip(order, values, strict=True):
        attribute = getattr(model, name)
        if value is None:
            beyond = false() if descending else attribute.is_not(None)
        elif descending:
            beyond = attribute < value
            if _nullable(model, name):
                beyond = or_(beyond, attribute.is_(None))
        else:
            beyond = attribute > value
        branches.append(and_(*equal, beyond))
        equal.append(attribute.is_(None) if value is None else attribute == value)
    condition = or_(*branches)
    first_name, first_descending = order[0]
    if values[0] is not None and not _nullable(model, first_name):
        # Redundant, but it hands the optimizer a range on the leading column.
        first = getattr(model, first_name)
        bound = first <= values[0] if first_descending else first >= values[0]
        condition = and_(bound, condition)
    return condition


# -- cursors ---------------------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value.value if isinstance(value, str) and hasattr(value, "value") else value
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"t": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"n": str(value)}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    raise InvalidFilterError(
        f"Keyset pages cannot order by a {type(value).__name__} column. Use offset pages "
        "(Model.page) or order by another column."
    )


_DECODERS: dict[str, Any] = {
    "dt": dt.datetime.fromisoformat,
    "d": dt.date.fromisoformat,
    "t": dt.time.fromisoformat,
    "n": decimal.Decimal,
    "u": uuid.UUID,
}


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return _DECODERS[tag](text)
    return value


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(body: str) -> str:
    return _b64(hmac.new(_key, body.encode("ascii"), hashlib.sha256).digest())


def _order_names(order: list[tuple[str, bool]]) -> list[str]:
    return [("-" if descending else "") + name for name, descending in order]


def _make_cursor(model: type[Base], order: list[tuple[str, bool]], values: list[Any]) -> str:
    payload = {
        "m": model.__name__,
        "o": _order_names(order),
        "k": [_encode_value(v) for v in values],
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_sign(body)}"


def _read_cursor(model: type[Base], order: list[tuple[str, bool]], cursor: object) -> list[Any]:
    """The key values in `cursor`, checked; raises InvalidCursorError. Never shows it."""
    if not isinstance(cursor, str):
        raise InvalidCursorError(
            f"after takes a cursor (a str from a page's next_cursor) or None; it was given "
            f"a {type(cursor).__name__}."
        )
    malformed = InvalidCursorError(f"The cursor is malformed or was altered. {_RESTART}")
    if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
        raise malformed
    body, signature = cursor.split(".")
    if not hmac.compare_digest(signature.encode("ascii", "replace"), _sign(body).encode()):
        raise malformed
    try:
        payload = json.loads(_unb64(body))
        names, raw_values = payload["o"], payload["k"]
        values = [_decode_value(v) for v in raw_values]
        made_for = (payload["m"], names)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise malformed from exc
    if made_for != (model.__name__, _order_names(order)) or len(values) != len(order):
        raise InvalidCursorError(
            f"The cursor belongs to another order or model than {model.__name__} ordered by "
            f"{', '.join(_order_names(order))}. {_RESTART}"
        )
    for (name, _), value in zip(order, values, strict=True):
        try:
            check_value(model.__name__, name, getattr(model, name).property.columns[0].type, value)
        except InvalidFilterError as exc:
            raise malformed from exc
    return values


__all__ = [
    "MAX_PER_PAGE",
    "KeysetPage",
    "OrderBy",
    "Page",
    "keyset_page",
    "offset_page",
    "set_cursor_key",
]
