"""`studyhall-db`: the command line. Each command is one function delegating to the library.

Our errors (StudyhallError) print their message to stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from studyhall.database.errors import NotAvailableError, StudyhallError
from studyhall.database.setup import DatabaseManager

F = TypeVar("F", bound=Callable[..., Any])


def _reports_errors(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except StudyhallError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(1) from exc
        finally:
            DatabaseManager.cleanup()

    return wrapper  # type: ignore[return-value]


@click.group()
def main() -> None:
    """Manage the studyhall database."""


@main.command()
@_reports_errors
def check() -> None:
    """Show the resolved configuration (password masked) and whether the server answers."""
    settings = DatabaseManager.validate_environment()
    click.echo(f"url:     {settings.masked_url}")
    click.echo(f"source:  {settings.source}")
    database = DatabaseManager.initialize(settings)
    from studyhall.database.dialects import server_version

    with database.engine.connect() as conn:
        click.echo(f"server:  {server_version(conn)}")
    click.echo("status:  reachable")


@main.command()
@_reports_errors
def init() -> None:
    """Create the database if it is missing, and its tables."""
    DatabaseManager.initialize()
    created = DatabaseManager.ensure_database_exists()
    tables = DatabaseManager.create_tables()
    settings = DatabaseManager.database().settings
    click.echo(f"database: {settings.masked_url} ({'created' if created else 'exists'})")
    click.echo(f"tables:   {len(tables)} created")


@main.command()
@_reports_errors
def setup() -> None:
    """Full set-up: create the database, its tables, and the sample data."""
    DatabaseManager.initialize()
    created = DatabaseManager.ensure_database_exists()
    tables = DatabaseManager.create_tables()
    settings = DatabaseManager.database().settings
    click.echo(f"database: {settings.masked_url} ({'created' if created else 'exists'})")
    click.echo(f"tables:   {len(tables)} created")
    try:
        click.echo(str(DatabaseManager.populate_sample_data()))
    except NotAvailableError as exc:
        click.echo(f"sample data: skipped ({exc})")
