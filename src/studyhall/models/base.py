"""The declarative base of every model: naming convention and the get_by-style helpers.

The helpers use the session of the current unit of work (`get_current_session()`), so
they work inside `with DatabaseManager.get_session():` or a `@with_db_session` function.
Their async twins (`aget_by`, `aget`, `acreate`, `acount`, `aexists`, `apage`,
`akeyset_page`) are awaited inside an async unit of work: each runs the sync helper in its
AsyncSession (`run_sync`), so there is one implementation. Relationships never load
lazily on the event loop: that raises AsyncContextError with advice;
`await obj.awaitable_attrs.name` (SQLAlchemy's AsyncAttrs) or `selectinload` in the query
load them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, Self, overload

from sqlalchemy import ColumnElement, MetaData, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import (
    DeclarativeBase,
    InstrumentedAttribute,
    Mapped,
    Mapper,
    QueryableAttribute,
    mapped_column,
    relationship,
)

from studyhall.db.aio import get_current_async_session
from studyhall.db.transaction import get_current_session
from studyhall.models.errors import InvalidFilterError
from studyhall.models.filters import check_value
from studyhall.models.pagination import KeysetPage, OrderBy, Page, keyset_page, offset_page
from studyhall.models.types import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Filter values of these types mean IN; a str is a single value, never a sequence.
_SEQUENCE_TYPES = (list, tuple, set, frozenset)


class Base(AsyncAttrs, DeclarativeBase):
    """Base class of every studyhall model, with ActiveRecord-style query helpers."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    # Columns that must never be filtered on or shown (e.g. `password_hash`).
    __secret_fields__: ClassVar[frozenset[str]] = frozenset()
    # Columns shown by `__repr__` besides the primary key.
    __repr_fields__: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def filterable_fields(cls) -> list[str]:
        """The names `get_by`, `count` and `exists` accept: the public mapped columns."""
        secret = cls.__secret_fields__
        return sorted(a.key for a in sa_inspect(cls).column_attrs if a.key not in secret)

    @classmethod
    def filter_criteria(cls, filters: dict[str, Any]) -> list[ColumnElement[bool]]:
        """WHERE criteria for `filters`: equality, `None` as IS NULL, a list/tuple/set as IN.

        Raises InvalidFilterError, before any SQL is built, for a name that is not a public
        column (unknown, secret, a relationship, a method or a dunder) and for a value that
        is not plain data of the column's type (see `studyhall.models.filters`).
        """
        valid = cls.filterable_fields()
        rejected = sorted(set(filters) - set(valid))
        if rejected:
            secret = sorted(set(rejected) & cls.__secret_fields__)
            hint = (
                f" ({', '.join(secret)} is secret and can never be filtered on)" if secret else ""
            )
            raise InvalidFilterError(
                f"{cls.__name__} cannot be filtered on {', '.join(map(repr, rejected))}{hint}. "
                f"Use only these fields: {', '.join(valid)}."
            )
        criteria: list[ColumnElement[bool]] = []
        for name, value in filters.items():
            values = list(value) if isinstance(value, _SEQUENCE_TYPES) else [value]
            attribute = getattr(cls, name)
            # Every value must be data of the column's type: an SQL expression could compare
            # against a secret column that the name check keeps out, and MySQL's implicit
            # casts make a number match any string and a string match an integer key.
            column_type = attribute.property.columns[0].type
            for item in values:
                check_value(cls.__name__, name, column_type, item)
            if not isinstance(value, _SEQUENCE_TYPES):
                criteria.append(attribute.is_(None) if value is None else attribute == value)
                continue
            present = [v for v in values if v is not None]
            # `IN (NULL)` never matches: a None in the list means IS NULL.
            criterion = attribute.in_(present)
            criteria.append(or_(criterion, attribute.is_(None)) if None in values else criterion)
        return criteria

    @classmethod
    def _primary_key(cls) -> list[InstrumentedAttribute[Any]]:
        return [getattr(cls, name) for name in _primary_key_names(sa_inspect(cls))]

    @overload
    @classmethod
    def get_by(cls, *, first: Literal[True], **filters: Any) -> Self | None: ...

    @overload
    @classmethod
    def get_by(
        cls, *, first: Literal[False] = ..., limit: int | None = ..., **filters: Any
    ) -> list[Self]: ...

    @classmethod
    def get_by(
        cls, *, first: bool = False, limit: int | None = None, **filters: Any
    ) -> Self | None | list[Self]:
        """Rows matching every filter, ordered by primary key; with `first`, one row or None.

        `limit` keeps the first `limit` rows. Requires an active session. See
        `filter_criteria` for the filter forms; `page` and `keyset_page` for pages.
        """
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 0
        ):
            raise InvalidFilterError(f"limit must be an int >= 0 or None; it was given {limit!r}.")
        if first and limit is not None:
            raise InvalidFilterError("first=True reads one row; pass either first or limit.")
        criteria = cls.filter_criteria(filters)
        query = select(cls).where(*criteria).order_by(*cls._primary_key())
        session = get_current_session()
        if first:
            return session.scalars(query.limit(1)).first()
        if limit is not None:
            query = query.limit(limit)
        return list(session.scalars(query))

    @classmethod
    def page(
        cls,
        page: int = 1,
        per_page: int = 20,
        *,
        count: bool = False,
        order_by: OrderBy | Sequence[OrderBy] | None = None,
        **filters: Any,
    ) -> Page[Self]:
        """Page `page` (from 1) of the rows matching `filters`, `per_page` (1 to 100) a page.

        Ordered by `order_by` (names, '-name' for descending, columns or their `.desc()`),
        then the primary key. `has_next` costs no COUNT; `count=True` fills `total` and
        `pages` with one more statement. Requires an active session.
        """
        return offset_page(cls, page, per_page, count, order_by, filters)

    @classmethod
    def keyset_page(
        cls,
        after: str | None = None,
        per_page: int = 20,
        *,
        order_by: OrderBy | Sequence[OrderBy] | None = None,
        **filters: Any,
    ) -> KeysetPage[Self]:
        """The rows matching `filters` after the cursor `after` (None: the first page).

        Ordered as in `page`; pass each page's `next_cursor` as the next `after`, with the
        same order. Raises InvalidCursorError for a cursor this order did not make.
        Requires an active session.
        """
        return keyset_page(cls, after, per_page, order_by, filters)

    @classmethod
    def get(cls, ident: Any) -> Self | None:
        """The row with primary key `ident`, or None. Requires an active session.

        Raises InvalidFilterError when `ident` is not data of the primary key's type.
        """
        names = _primary_key_names(sa_inspect(cls))
        if isinstance(ident, dict):
            given = list(ident.items())
        elif isinstance(ident, (tuple, list)):
            given = list(zip(names, ident, strict=False))
        else:
            given = [(names[0], ident)]
        for name, value in given:
            attribute = getattr(cls, name, None)
            if isinstance(attribute, QueryableAttribute):
                check_value(cls.__name__, name, attribute.property.columns[0].type, value)
        return get_current_session().get(cls, ident)

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """Build a row from `fields`, add it to the current session and flush it.

        The flush runs the database constraints now, so a violation raises here, in the
        caller's unit of work. Requires an active session.
        """
        instance = cls(**fields)
        session = get_current_session()
        session.add(instance)
        # A full flush: flushing only `instance` would write a many-to-many link from its
        # side and leave the other side's collection pending, to be written again later.
        session.flush()
        return instance

    @classmethod
    def count(cls, **filters: Any) -> int:
        """The number of rows matching `filters` (as in `get_by`). Requires an active session."""
        query = select(func.count()).select_from(cls).where(*cls.filter_criteria(filters))
        return get_current_session().scalar(query) or 0

    @classmethod
    def exists(cls, **filters: Any) -> bool:
        """Whether a row matches `filters` (as in `get_by`). Requires an active session."""
        query = select(*cls._primary_key()).where(*cls.filter_criteria(filters)).limit(1)
        return get_current_session().execute(query).first() is not None

    @overload
    @classmethod
    async def aget_by(cls, *, first: Literal[True], **filters: Any) -> Self | None: ...

    @overload
    @classmethod
    async def aget_by(
        cls, *, first: Literal[False] = ..., limit: int | None = ..., **filters: Any
    ) -> list[Self]: ...

    @classmethod
    async def aget_by(
        cls, *, first: bool = False, limit: int | None = None, **filters: Any
    ) -> Self | None | list[Self]:
        """`get_by`, awaited. Requires an active async unit of work."""
        session = get_current_async_session()
        if first:
            if limit is not None:
                raise InvalidFilterError("first=True reads one row; pass either first or limit.")
            return await session.run_sync(lambda _: cls.get_by(first=True, **filters))
        return await session.run_sync(lambda _: cls.get_by(limit=limit, **filters))

    @classmethod
    async def aget(cls, ident: Any) -> Self | None:
        """`get`, awaited. Requires an active async unit of work."""
        return await get_current_async_session().run_sync(lambda _: cls.get(ident))

    @classmethod
    async def acreate(cls, **fields: Any) -> Self:
        """`create`, awaited: the row is flushed. Requires an active async unit of work."""
        return await get_current_async_session().run_sync(lambda _: cls.create(**fields))

    @classmethod
    async def acount(cls, **filters: Any) -> int:
        """`count`, awaited. Requires an active async unit of work."""
        return await get_current_async_session().run_sync(lambda _: cls.count(**filters))

    @classmethod
    async def aexists(cls, **filters: Any) -> bool:
        """`exists`, awaited. Requires an active async unit of work."""
        return await get_current_async_session().run_sync(lambda _: cls.exists(**filters))

    @classmethod
    async def apage(
        cls,
        page: int = 1,
        per_page: int = 20,
        *,
        count: bool = False,
        order_by: OrderBy | Sequence[OrderBy] | None = None,
        **filters: Any,
    ) -> Page[Self]:
        """`page`, awaited. Requires an active async unit of work."""
        return await get_current_async_session().run_sync(
            lambda _: offset_page(cls, page, per_page, count, order_by, filters)
        )

    @classmethod
    async def akeyset_page(
        cls,
        after: str | None = None,
        per_page: int = 20,
        *,
        order_by: OrderBy | Sequence[OrderBy] | None = None,
        **filters: Any,
    ) -> KeysetPage[Self]:
        """`keyset_page`, awaited. Requires an active async unit of work."""
        return await get_current_async_session().run_sync(
            lambda _: keyset_page(cls, after, per_page, order_by, filters)
        )

    def __repr__(self) -> str:
        # Only already-loaded values: a repr must never emit SQL or show a secret.
        state = sa_inspect(self)
        names = _primary_key_names(state.mapper) + list(self.__repr_fields__)
        shown = _format_fields(state.dict, (n for n in names if n not in self.__secret_fields__))
        return f"<{type(self).__name__} {shown}>" if shown else f"<{type(self).__name__}>"


def _primary_key_names(mapper: Mapper[Any]) -> list[str]:
    return [mapper.get_property_by_column(column).key for column in mapper.primary_key]


def _format_fields(values: dict[str, Any], names: Iterable[str]) -> str:
    return " ".join(f"{name}={values[name]!r}" for name in names if name in values)


def parts(back_populates: str, order_by: str | Literal[False] = False) -> Any:
    """A relationship to rows that are part of this one: added, and deleted, with it.

    The ORM leaves the deletion to the foreign key's ON DELETE CASCADE
    (`passive_deletes`), so deleting a parent never loads its parts first.
    """
    return relationship(
        back_populates=back_populates,
        order_by=order_by,
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class TimestampMixin:
    """`created_at` and `updated_at`, set by the application in UTC (see `utcnow`)."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


__all__ = [
    "Base",
    "NAMING_CONVENTION",
    "TimestampMixin",
    "parts",
]
