"""The sample data's logins in a database: found (production refuses them) and disabled.

Every sample-data user gets one hash of `DEMO_PASSWORD`, which the docs publish. Checking
every user's hash would take a scrypt run each, so only a bounded set of hashes is tried:
those of the sample data's named logins, and those shared by several active users (a salted
hash is unique to one password choice: a shared one was copied, as the sample data does).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, func, inspect, select, update
from werkzeug.security import check_password_hash

from studyhall.db.engine import Database
from studyhall.models import Base
from studyhall.sample_data.load import DEMO_LOGINS, DEMO_PASSWORD
from studyhall.sample_data.rows import EMAIL_DOMAIN

# Hashes tried at most (a scrypt check each, ~0.1 s): the named logins' and the most shared.
MAX_HASHES_CHECKED = 8
NAMED_LOGINS = (*DEMO_LOGINS, f"manager2@{EMAIL_DOMAIN}")
DISABLE_COMMAND = "studyhall-db disable-demo-logins"


@dataclass(frozen=True)
class DemoLogins:
    """Active accounts that sign in with the demo password: how many, and a few e-mails."""

    count: int
    examples: tuple[str, ...] = ()


def find_demo_logins(database: Database) -> DemoLogins:
    """The active accounts whose password is `DEMO_PASSWORD` (none without a users table)."""
    users = _users()
    with database.engine.connect() as conn:
        if not inspect(conn).has_table(users.name):
            return DemoLogins(0)
        hashes = _demo_hashes(conn, users)
        if not hashes:
            return DemoLogins(0)
        active = (users.c.is_active.is_(True), users.c.password_hash.in_(hashes))
        count = conn.execute(select(func.count()).where(*active)).scalar_one()
        first = select(users.c.email).where(*active).order_by(users.c.id).limit(3)
        return DemoLogins(count, tuple(conn.execute(first).scalars()))


def disable_demo_logins(database: Database) -> int:
    """Deactivate every account found by `find_demo_logins`; return how many."""
    users = _users()
    with database.engine.begin() as conn:
        hashes = _demo_hashes(conn, users) if inspect(conn).has_table(users.name) else []
        if not hashes:
            return 0
        query = (
            update(users)
            .where(users.c.is_active.is_(True), users.c.password_hash.in_(hashes))
            .values(is_active=False)
        )
        return conn.execute(query).rowcount


def _users() -> Table:
    return Base.metadata.tables["users"]


def _demo_hashes(conn: Connection, users: Table) -> list[str]:
    """Of the candidate hashes of active users, those that verify `DEMO_PASSWORD`."""
    active = users.c.is_active.is_(True)
    named = select(users.c.password_hash).where(active, users.c.email.in_(NAMED_LOGINS))
    shared = (
        select(users.c.password_hash)
        .where(active)
        .group_by(users.c.password_hash)
        .having(func.count() > 1)
        .order_by(func.count().desc())
        .limit(MAX_HASHES_CHECKED)
    )
    candidates = dict.fromkeys([*conn.execute(named).scalars(), *conn.execute(shared).scalars()])
    return [h for h in list(candidates)[:MAX_HASHES_CHECKED] if h and _is_demo(h)]


def _is_demo(password_hash: str) -> bool:
    try:
        return check_password_hash(password_hash, DEMO_PASSWORD)
    except ValueError:  # a hash of a method this Werkzeug does not know
        return False


__all__ = [
    "DISABLE_COMMAND",
    "MAX_HASHES_CHECKED",
    "NAMED_LOGINS",
    "DemoLogins",
    "disable_demo_logins",
    "find_demo_logins",
]
