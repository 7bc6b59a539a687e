"""`@with_db_session` (the seed's public module; the implementation is `studyhall.db`)."""

from studyhall.db.decorators import with_db_session

__all__ = ["with_db_session"]
