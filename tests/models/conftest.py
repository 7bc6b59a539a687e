"""Fixtures of the model tests: see tests/models/rollback.py."""

from tests.models.rollback import module_database, rolled_back

__all__ = ["module_database", "rolled_back"]
