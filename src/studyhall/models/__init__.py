"""The typed ORM model of studyhall."""

from studyhall.models.base import Base

__all__ = ["Base"]
