"""studyhall: the data layer of a learning platform."""

__version__ = "0.1.0"


__all__ = ["__version__"]
