"""A private MariaDB killed (SIGKILL) and restarted between units of work at random moments.

With the ping bypass window, pooled connections returned less than DB_PING_BYPASS_MS ago
are handed out unpinged, so after a restart they are dead. Every unit must still succeed
once the server is back (the first statement runs again on a new connection), fail with
DatabaseUnavailableError only while the server is down, and never run a statement twice
(each unit inserts a row under a unique key; the rows are counted at the end).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from studyhall.config import DatabaseSettings
from studyhall.db.engine import Database
from studyhall.errors import DatabaseUnavailableError
from tests.private_mariadb import PrivateMariaDB, private_mariadb

PRIVATE_PORT = 3341  # no other test uses it
RESTARTS = 6
WINDOW = 0.5  # seconds: DB_PING_BYPASS_MS's default


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateMariaDB]:
    with private_mariadb(PRIVATE_PORT) as private:
        engine = create_engine(private.url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE marks (id INT PRIMARY KEY) ENGINE=InnoDB"))
        engine.dispose()
        yield private


class Units:
    """Units of work that each insert one row under a new key, and what became of them."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.next_key = 0
        self.succeeded: list[int] = []

    def _key(self) -> int:
        self.next_key += 1
        return self.next_key

    def one(self) -> None:
        key = self._key()
        with self.database.unit_of_work() as session:
            session.execute(text("INSERT INTO marks (id) VALUES (:id)"), {"id": key})
        self.succeeded.append(key)

    def two_connections(self) -> None:
        """A unit that opens a `requires_new` unit: two pooled connections in use."""
        outer, inner = self._key(), self._key()
        with self.database.unit_of_work() as session:
            session.execute(text("INSERT INTO marks (id) VALUES (:id)"), {"id": outer})
            with self.database.unit_of_work("requires_new") as other:
                other.execute(text("INSERT INTO marks (id) VALUES (:id)"), {"id": inner})
            self.succeeded.append(inner)
        self.succeeded.append(outer)

    def run_at_random(self, rng: random.Random, count: int) -> None:
        for _ in range(count):
            self.two_connections() if rng.random() < 0.3 else self.one()


def test_units_survive_restarts_and_fail_only_while_the_server_is_down(
    server: PrivateMariaDB,
) -> None:
    rng = random.Random(16)
    settings = DatabaseSettings(
        url=server.url,
        source="DATABASE_URL",
        pool_size=3,
        max_overflow=0,
        connect_timeout=2,
        read_timeout=5,
        write_timeout=5,
    )
    assert settings.ping_bypass_ms == WINDOW * 1000
    database = Database(settings)
    units = Units(database)
    failed_while_down = 0
    try:
        for _ in range(RESTARTS):
            units.run_at_random(rng, rng.randint(2, 6))
            time.sleep(rng.uniform(0, WINDOW / 4))
            server.kill()
            if rng.random() < 0.5:
                # Down: a unit fails with the error that says so, and commits nothing.
                with pytest.raises(DatabaseUnavailableError):
                    units.one()
                failed_while_down += 1
            server.start()
            # Mostly within the window (unpinged dead connections), sometimes beyond it.
            time.sleep(rng.uniform(0, WINDOW / 2) if rng.random() < 0.75 else WINDOW * 1.5)
            units.run_at_random(rng, rng.randint(1, 6))  # none may fail
    finally:
        database.dispose()
    assert failed_while_down > 0
    engine = create_engine(server.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = list(conn.scalars(text("SELECT id FROM marks ORDER BY id")))
    finally:
        engine.dispose()
    assert rows == sorted(units.succeeded)
    assert len(rows) == len(set(rows)) == len(units.succeeded)
