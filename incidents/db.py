"""SQLAlchemy base, engine and session helpers shared by every table of Tocsin.

SQLite (default, demo) and PostgreSQL (production, tests) are both first-class. Engines are
built by `make_engine(url)` when asked, never at import time.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapper, Session, sessionmaker

from consumers.conventions import is_aware

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that refuses naive values and always returns aware UTC.

    SQLite stores no offset; this type makes both backends behave the same.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not is_aware(value):
            raise ValueError("naive datetime refused: use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def enum_type(enum: type[StrEnum], length: int) -> Enum:
    """A closed vocabulary kept as its values in a `VARCHAR(length)`: no native enum type and
    no CHECK constraint, so the schema and the stored strings are those of a plain string
    column. The attribute holds the enum member: read back from the database, and on
    assignment, where a string is turned into its member and a string outside the enum is
    refused (`ValueError`, see `_enum_attributes`)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        values_callable=_values,
        length=length,
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime()}


def _to_member(vocabulary: type[enum.Enum]) -> Callable[[Any, Any, Any, Any], Any]:
    def to_member(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        return value if value is None or isinstance(value, vocabulary) else vocabulary(value)

    return to_member


@event.listens_for(Base, "mapper_configured", propagate=True)
def _enum_attributes(mapper: Mapper[Any], cls: type[Any]) -> None:
    """Every `enum_type` column holds its member in memory too, whatever was assigned (a
    plain value from a form or a test): `incident.status.is_open` never meets a `str`."""
    for prop in mapper.column_attrs:
        kind = prop.columns[0].type
        if isinstance(kind, Enum) and kind.enum_class is not None:
            event.listen(getattr(cls, prop.key), "set", _to_member(kind.enum_class), retval=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on error."""
    with factory() as session, session.begin():
        yield session


def utcnow() -> datetime:
    return datetime.now(UTC)
