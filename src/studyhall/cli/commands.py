"""`studyhall-db`: the command line. Each command is one function delegating to the library.

Every failure prints a message saying what to do on stderr, never a traceback: our errors
(StudyhallError) and database errors exit 1, usage errors 2, and a COMMIT whose reply was
lost (the outcome is unknown: check before running it again) exits 3.
Destructive commands (`drop`, `reset`, `seed --clear`) ask for the database name on a
terminal, refuse without `--yes` elsewhere, and refuse always when STUDYHALL_ENV=production;
so do `seed` and `setup`, whose demo logins share a published password.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from studyhall import migrations
from studyhall.cli import jobs as job_commands
from studyhall.cli.status import row_counts
from studyhall.config import deployment_environment, log_level
from studyhall.database.setup import ALEMBIC_VERSION_TABLE, DatabaseManager
from studyhall.db import default
from studyhall.db.backends import server_version
from studyhall.db.engine import Database
from studyhall.errors import (
    CommitOutcomeUnknownError,
    StudyhallError,
    UnsafeOperationError,
)
from studyhall.log import configure_output
from studyhall.sample_data import DEMO_PASSWORD, Progress, planned_rows
from studyhall.sample_data.demo_logins import disable_demo_logins
from studyhall.services import user_sessions

# 240,000 students: far beyond any load test, and a guard against a typo of zeros.
MAX_SCALE = 10_000
SCALE = click.option(
    "--scale",
    type=click.IntRange(1, MAX_SCALE),
    default=1,
    show_default=True,
    help="Multiply students, parents, enrollments, sessions and messages by N.",
)
YES = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
MIGRATE = click.option("--migrate", is_flag=True, help="Create the tables with Alembic.")


def _on_terminal() -> bool:
    """Whether a person is at a terminal (to ask them, or to draw a progress bar)."""
    # A stream is None when its file descriptor was closed (e.g. `<&-`, some daemons).
    return all(stream is not None and stream.isatty() for stream in (sys.stdin, sys.stderr))


# Exit status of a command whose final COMMIT may or may not have been applied.
EXIT_COMMIT_OUTCOME_UNKNOWN = 3


class _OutcomeUnknown(click.ClickException):
    exit_code = EXIT_COMMIT_OUTCOME_UNKNOWN


class _Group(click.Group):
    """Turns every database failure into a message on stderr and a non-zero exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CommitOutcomeUnknownError as exc:
            message = str(exc)
            if "studyhall-db status" not in message:
                message += " `studyhall-db status` shows what the database holds now."
            raise _OutcomeUnknown(message) from exc
        except StudyhallError as exc:
            if isinstance(exc, DBAPIError) and exc.statement is not None:
                # A driver error (translated) cut a command short: say what that means here.
                raise click.ClickException(_database_failure(exc)) from exc
            raise click.ClickException(str(exc)) from exc
        except SQLAlchemyError as exc:
            raise click.ClickException(_database_failure(exc)) from exc
        finally:
            DatabaseManager.cleanup()


def _database_failure(exc: SQLAlchemyError) -> str:
    """One paragraph on a database error no studyhall class describes, without a password."""
    # A clean-up that failed on a dead connection (e.g. "Can't reconnect until invalid
    # transaction is rolled back") hides the error that killed it: report that one.
    exc = _driver_failure(exc) or exc
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    reason = (lines[0] if lines else type(orig).__name__).rstrip(".")
    for secret in _secrets():
        reason = reason.replace(secret, "***")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return (
            f"The connection to the database was lost while the command ran: {reason}. What "
            "the command had not committed was rolled back, and every studyhall-db command "
            "is safe to run again: check the server with `studyhall-db check`, then run the "
            "command again."
        )
    return (
        f"The database reported an error while the command ran: {reason}. What the command "
        "had not committed was rolled back. If a table or column is missing, the schema is "
        "older than this version of studyhall: `studyhall-db status` shows its migration and "
        "`studyhall-db migrate` updates it."
    )


def _driver_failure(exc: BaseException) -> DBAPIError | None:
    """The first driver error in `exc` and the exceptions it was raised while handling."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _secrets() -> list[str]:
    database = default.current()
    if database is not None:
        return database.settings.secrets
    try:
        return DatabaseManager.validate_environment().secrets
    except StudyhallError:
        return []


@click.group(cls=_Group)
def main() -> None:
    """Manage the studyhall database (configured by DATABASE_URL or DB_* variables)."""
    configure_output(log_level())


@main.command()
def check() -> None:
    """Show the configuration (password masked), the server version and reachability."""
    settings = DatabaseManager.validate_environment()
    click.echo(f"url:     {settings.masked_url}")
    click.echo(f"source:  {settings.source}")
    database = DatabaseManager.initialize(settings)
    with database.engine.connect() as conn:
        click.echo(f"server:  {server_version(conn)}")
    click.echo("status:  reachable")


@main.command()
@MIGRATE
def init(migrate: bool) -> None:
    """Create the database if it is missing, and its tables."""
    _init(migrate)


@main.command()
def migrate() -> None:
    """Upgrade the schema to the newest Alembic revision."""
    database = DatabaseManager.initialize()
    _require_server(database)
    migrations.upgrade(database)
    click.echo(f"migration: {migrations.current_revision(database)}")


@main.command()
@click.argument("revision", default="head")
@click.option(
    "--purge", is_flag=True, help="Delete the recorded revision first (one this version lacks)."
)
def stamp(revision: str, purge: bool) -> None:
    """Record REVISION (default: the newest) as the schema's migration; no table changes.

    For tables built without a record (`init` before it recorded one) whose schema is
    that revision's: `migrate` then starts from there.
    """
    database = DatabaseManager.initialize()
    _require_server(database)
    migrations.stamp(database, revision, purge=purge)
    click.echo(f"migration: {migrations.current_revision(database) or 'none'}")


@main.command()
@click.option("--clear", is_flag=True, help="Delete every row first, then load afresh.")
@SCALE
@YES
def seed(clear: bool, scale: int, yes: bool) -> None:
    """Load the deterministic sample data (nothing changes if it is already there)."""
    _refuse_sample_data_in_production()
    DatabaseManager.initialize()
    if clear:
        _confirm("delete every row", yes)
    _seed(clear, scale)


@main.command()
@YES
def drop(yes: bool) -> None:
    """Drop every studyhall table."""
    DatabaseManager.initialize()
    _confirm("drop every table", yes)
    click.echo(f"tables:   {_drop_tables()} dropped")


@main.command()
@YES
@MIGRATE
@SCALE
def reset(yes: bool, migrate: bool, scale: int) -> None:
    """Drop every table, create them again and load the sample data."""
    DatabaseManager.initialize()
    _confirm("drop every table", yes)
    _drop_tables()
    _init(migrate)
    _seed(False, scale)


@main.command()
@MIGRATE
@SCALE
def setup(migrate: bool, scale: int) -> None:
    """Full set-up: create the database and its tables, and load the sample data."""
    _refuse_sample_data_in_production()
    _init(migrate)
    _seed(False, scale)


@main.command()
def status() -> None:
    """Show the row count of every table and the current migration."""
    database = DatabaseManager.initialize()
    counts = row_counts(database)  # first: its engine explains a connection failure
    click.echo(f"database:  {database.settings.masked_url}")
    click.echo(f"migration: {migrations.current_revision(database) or 'none'}")
    width = max(map(len, counts))
    for name, count in counts.items():
        click.echo(f"  {name:<{width}}  {'missing' if count is None else f'{count:>9,}'}")


@main.command("disable-demo-logins")
def disable_demo() -> None:
    """Deactivate the accounts that sign in with the sample data's published password.

    Allowed in production: it is how a production database that received the sample data
    is made safe (the web app refuses to start there until it is).
    """
    disabled = disable_demo_logins(DatabaseManager.initialize())
    noun = "account" if disabled == 1 else "accounts"
    click.echo(f"{disabled:,} {noun} with the demo password deactivated")


@main.group()
def sessions() -> None:
    """Server-side login sessions of the web app."""


@sessions.command("prune")
def prune_sessions() -> None:
    """Delete every revoked or expired login session (run it daily, e.g. from cron)."""
    DatabaseManager.initialize()
    deleted = user_sessions.prune_sessions()
    click.echo(f"{deleted:,} revoked or expired session{'' if deleted == 1 else 's'} deleted")


main.add_command(job_commands.jobs)
main.add_command(job_commands.worker)


def _require_server(database: Database) -> None:
    # Alembic connects through its own engine, which reports a connection failure raw;
    # ours turns it into a DatabaseUnavailableError that says what to do.
    with database.engine.connect():
        pass


def _drop_tables() -> int:
    """Drop every table (Alembic's revision record too); the number of studyhall tables."""
    dropped = DatabaseManager.drop_tables(force=True)
    return len([name for name in dropped if name != ALEMBIC_VERSION_TABLE])


def _init(migrate: bool) -> None:
    # Before initialize() (which would create it quietly), to say whether it was made.
    created = DatabaseManager.ensure_database_exists()
    database = DatabaseManager.initialize()
    click.echo(f"database: {database.settings.masked_url} ({'created' if created else 'exists'})")
    if migrate:
        migrations.upgrade(database)
        click.echo(f"schema:   migrated to {migrations.current_revision(database)}")
    else:
        click.echo(f"tables:   {len(DatabaseManager.create_tables())} created")


def _seed(clear: bool, scale: int) -> None:
    with _progress_bar(sum(planned_rows(scale).values())) as progress:
        summary = DatabaseManager.populate_sample_data(
            clear_existing=clear, scale=scale, progress=progress
        )
    click.echo(str(summary))
    # Printed on purpose: a documented demo password is what makes demo logins usable.
    click.echo(f"Demo password: {DEMO_PASSWORD}")


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator[Progress | None]:
    if not _on_terminal():
        yield None
        return
    with click.progressbar(length=total, label="Loading sample data", file=sys.stderr) as bar:
        yield bar.update


def _refuse_sample_data_in_production() -> None:
    # Its demo logins, managers included, share a password printed in the README.
    if deployment_environment() == "production":
        raise UnsafeOperationError(
            "Refusing to load the sample data: STUDYHALL_ENV is production, and every demo "
            "login shares a published password. In production create the tables only "
            "(`studyhall-db init` or `init --migrate`); load sample data elsewhere."
        )


def _confirm(action: str, yes: bool) -> None:
    """Refuse in production; otherwise ask for the database name unless `yes`."""
    name = DatabaseManager.database().settings.database or ""
    if deployment_environment() == "production":
        raise UnsafeOperationError(
            f"Refusing to {action} of {name!r}: STUDYHALL_ENV is production. Destructive "
            "commands never run in production; point DATABASE_URL at another database."
        )
    if yes:
        return
    if not _on_terminal():
        raise UnsafeOperationError(
            f"Refusing to {action} of {name!r} without confirmation: there is no terminal to "
            "ask on. Pass --yes."
        )
    expected = Path(name).name if DatabaseManager.database().settings.backend == "sqlite" else name
    answer = click.prompt(
        f"This will {action} of {name!r}. Type {expected!r} to confirm",
        default="",
        show_default=False,
    )
    if answer.strip() != expected:
        raise UnsafeOperationError(
            f"Not confirmed ({answer.strip()!r} is not {expected!r}): nothing was changed. Run "
            f"the command again and type {expected!r}, or pass --yes."
        )


__all__ = [
    "EXIT_COMMIT_OUTCOME_UNKNOWN",
    "MAX_SCALE",
    "MIGRATE",
    "SCALE",
    "YES",
    "check",
    "drop",
    "init",
    "main",
    "migrate",
    "reset",
    "seed",
    "setup",
    "stamp",
    "status",
]
