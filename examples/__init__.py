"""Runnable examples of studyhall in other settings (see each module's docstring)."""
