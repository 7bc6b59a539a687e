"""Business operations on the model, run in the current unit of work."""

__all__: list[str] = []
