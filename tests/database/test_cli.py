from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from studyhall import migrations
from studyhall.cli import commands as cli
from studyhall.db.backends import drop_database
from studyhall.models import Base
from studyhall.sample_data import DEMO_PASSWORD, planned_rows
from tests.conftest import require_backend, throwaway_settings
from tests.database.wire import COMMIT, CuttingProxy

TABLE_COUNT = len(Base.metadata.tables)


def run(*args, input=None):
    return CliRunner().invoke(cli.main, list(args), input=input)


def use(settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.url.render_as_string(hide_password=False))


def table_names(settings):
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def fresh(backend, tmp_path, monkeypatch):
    """Settings of a database that does not exist yet (in DATABASE_URL); dropped after."""
    settings = throwaway_settings(backend, tmp_path)
    use(settings, monkeypatch)
    yield settings
    drop_database(settings)


@pytest.fixture
def seeded(fresh):
    result = run("setup")
    assert result.exit_code == 0, result.output
    return fresh


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_reports_the_server(db_settings, monkeypatch):
    use(db_settings, monkeypatch)
    result = run("check")
    assert result.exit_code == 0, result.output
    assert db_settings.masked_url in result.stdout
    assert "status:  reachable" in result.stdout
    assert re.search(r"server:  (sqlite|mysql|mariadb|postgresql) \d+\.\d+", result.stdout)


def test_init_creates_the_database_and_tables_once(fresh):
    first = run("init")
    assert first.exit_code == 0, first.output
    assert "(created)" in first.stdout and f"{TABLE_COUNT} created" in first.stdout
    again = run("init")
    assert "(exists)" in again.stdout and "tables:   0 created" in again.stdout
    assert table_names(fresh) >= set(Base.metadata.tables)


def test_setup_loads_and_prints_the_demo_logins(seeded):
    result = run("seed")
    assert result.exit_code == 0
    assert "already loaded: nothing changed" in result.stdout
    assert "student1@example.edu" in result.stdout
    assert f"Demo password: {DEMO_PASSWORD}" in result.stdout
    assert result.stderr == ""  # no progress bar off a terminal


def test_seed_at_another_scale_says_how_to_reload(seeded):
    result = run("seed", "--scale", "5")
    assert result.exit_code == 0, result.output
    assert "Sample data is already loaded at scale 1, not 5: nothing changed." in result.stdout
    assert "`studyhall-db seed --clear --scale 5`" in result.stdout
    same = run("seed", "--scale", "1")
    assert "already loaded: nothing changed" in same.stdout
    assert "--scale" not in same.stdout


def test_seed_clear_at_scale_reloads(seeded):
    result = run("seed", "--clear", "--scale", "2", "--yes")
    assert result.exit_code == 0, result.output
    total = sum(planned_rows(2).values())
    assert f"Loaded the sample data at scale 2: {total:,} rows" in result.stdout
    assert "after deleting" in result.stdout


def test_reset_drops_creates_and_seeds(seeded):
    result = run("reset", "--yes")
    assert result.exit_code == 0, result.output
    assert f"tables:   {TABLE_COUNT} created" in result.stdout
    assert "Loaded the sample data at scale 1" in result.stdout


def test_drop_with_yes_drops_every_table(seeded):
    result = run("drop", "--yes")
    assert result.exit_code == 0, result.output
    assert f"tables:   {TABLE_COUNT} dropped" in result.stdout
    assert not table_names(seeded) & set(Base.metadata.tables)


@pytest.mark.parametrize(
    "args", [["drop"], ["reset"], ["seed", "--clear"]], ids=["drop", "reset", "seed-clear"]
)
def test_destructive_commands_refuse_without_yes_off_a_terminal(seeded, args):
    result = run(*args)
    assert result.exit_code == 1
    assert "without confirmation: there is no terminal" in result.stderr
    assert "Pass --yes." in result.stderr
    assert table_names(seeded) >= set(Base.metadata.tables)


@pytest.mark.parametrize("args", [["drop", "--yes"], ["reset", "--yes"]], ids=["drop", "reset"])
def test_drop_and_reset_refuse_in_production(seeded, monkeypatch, args):
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    result = run(*args)
    assert result.exit_code == 1
    assert "STUDYHALL_ENV is production" in result.stderr
    assert table_names(seeded) >= set(Base.metadata.tables)


@pytest.mark.parametrize("args", [["seed"], ["setup"]], ids=["seed", "setup"])
def test_sample_data_is_never_loaded_in_production(fresh, monkeypatch, args):
    assert run("init").exit_code == 0
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    result = run(*args)
    assert result.exit_code == 1
    assert "STUDYHALL_ENV is production" in result.stderr
    assert "published password" in result.stderr
    assert DEMO_PASSWORD not in result.output
    monkeypatch.delenv("STUDYHALL_ENV")
    assert run("status").stdout.count("        0") == TABLE_COUNT


def test_on_a_terminal_drop_asks_for_the_database_name(seeded, monkeypatch):
    monkeypatch.setattr(cli, "_on_terminal", lambda: True)
    refused = run("drop", input="not-it\n")
    assert refused.exit_code == 1
    assert "Not confirmed ('not-it'" in refused.stderr
    assert table_names(seeded) >= set(Base.metadata.tables)
    name = seeded.database.rsplit("/", 1)[-1]
    dropped = run("drop", input=f"{name}\n")
    assert dropped.exit_code == 0, dropped.output
    assert f"Type {name!r} to confirm" in dropped.output


def test_on_a_terminal_seeding_draws_a_progress_bar(fresh, monkeypatch):
    monkeypatch.setattr(cli, "_on_terminal", lambda: True)
    result = run("setup")
    assert result.exit_code == 0, result.output
    assert "Loading sample data" in result.stderr


def test_status_counts_rows_and_shows_the_migration(seeded):
    result = run("status")
    assert result.exit_code == 0, result.output
    assert "migration: " in result.stdout
    assert "  study_messages" in result.stdout
    rows = planned_rows(1)
    assert f"  users{' ' * (len('assessment_questions') - len('users'))}  " in result.stdout
    assert f"{rows['study_messages']:>9,}" in result.stdout


def test_status_shows_missing_tables(fresh):
    run("init")
    run("drop", "--yes")
    result = run("status")
    assert result.exit_code == 0, result.output
    assert "missing" in result.stdout


def test_migrate_and_init_migrate_build_the_schema(fresh):
    result = run("init", "--migrate")
    assert result.exit_code == 0, result.output
    assert "schema:   migrated to " in result.stdout
    assert table_names(fresh) >= set(Base.metadata.tables)
    again = run("migrate")
    assert again.exit_code == 0, again.output
    seeded = run("seed")
    assert seeded.exit_code == 0, seeded.output
    status = run("status")
    assert f"migration: {migrations.head_revision()}" in status.stdout


def test_drop_and_reset_forget_the_migration_of_the_dropped_tables(fresh):
    assert run("init", "--migrate").exit_code == 0
    reset = run("reset", "--yes", "--migrate")
    assert reset.exit_code == 0, reset.output
    assert "Loaded the sample data at scale 1" in reset.stdout
    assert table_names(fresh) >= set(Base.metadata.tables)
    assert run("drop", "--yes").exit_code == 0
    assert "migration: none" in run("status").stdout
    again = run("migrate")
    assert again.exit_code == 0, again.output
    assert table_names(fresh) >= set(Base.metadata.tables)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seed", "--scale", "0"], "Invalid value for '--scale': 0 is not in the range"),
        (["seed", "--scale", "many"], "'many' is not a valid integer"),
        (["seed", "--scale", "10001"], "10001 is not in the range 1<=x<=10000"),
        (["drop", "--force"], "No such option '--force'"),
        (["obliterate"], "No such command 'obliterate'"),
    ],
)
def test_usage_errors_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize("command", ["check", "init", "migrate", "seed", "status", "setup"])
def test_an_unreachable_server_exits_1_without_the_password(monkeypatch, closed_port, command):
    url = f"mysql+pymysql://root:Pa55-word@127.0.0.1:{closed_port}/studyhall"
    monkeypatch.setenv("DATABASE_URL", url)
    result = run(command)
    assert result.exit_code == 1
    assert f"Cannot connect to the mysql server at 127.0.0.1:{closed_port}" in result.stderr
    assert "Nothing accepts connections there" in result.stderr
    assert "Pa55-word" not in result.output


def test_a_bad_configuration_exits_1(monkeypatch):
    monkeypatch.setenv("DB_USER", "someone")
    result = run("check")
    assert result.exit_code == 1
    assert "Missing database variables: DB_PASSWORD, DB_HOST, DB_NAME" in result.stderr


SETUP_SCRIPT = Path(cli.__file__).parents[1] / "database" / "setup.py"


def run_setup_script(tmp_path, **env):
    environ = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'script.sqlite3'}", **env}
    return subprocess.run(
        [sys.executable, str(SETUP_SCRIPT)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_setup_script_runs_the_full_set_up(tmp_path):
    result = run_setup_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Loaded the sample data at scale 1" in result.stdout


def test_setup_script_refuses_sample_data_in_production(tmp_path):
    result = run_setup_script(tmp_path, STUDYHALL_ENV="production")
    assert result.returncode == 1
    assert "Refusing to load the sample data" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "exit_code", "says"),
    [(["setup"], 0, "Loaded the sample data"), (["drop"], 1, "there is no terminal")],
    ids=["setup", "drop"],
)
def test_a_closed_standard_input_is_no_terminal(tmp_path, args, exit_code, says):
    # As under some service managers: Python then sets sys.stdin to None.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'closed.sqlite3'}"}
    command = [sys.executable, "-c", "from studyhall.cli.commands import main; main()", *args]
    result = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(0),
    )
    assert result.returncode == exit_code, result.stderr
    assert says in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# Faults in the middle of a command: a message saying what to do, never a traceback.


@pytest.fixture(params=["mariadb", "postgresql"])
def fresh_server(request, tmp_path, monkeypatch):
    """`fresh`, on the database servers only; with its tables."""
    require_backend(request.param)
    settings = throwaway_settings(request.param, tmp_path)
    use(settings, monkeypatch)
    assert run("init").exit_code == 0
    yield settings
    drop_database(settings)


def through(proxy, settings):
    """DATABASE_URL of `settings` by way of `proxy` (in plain text, so it can see COMMIT)."""
    url = settings.url.set(host="127.0.0.1", port=proxy.port)
    if settings.backend == "postgresql":
        url = url.update_query_dict({"sslmode": "disable"})
    return url.render_as_string(hide_password=False)


def server_address(settings):
    return (settings.url.host, settings.url.port)


def cli_process(args, database_url, cwd):
    command = [sys.executable, "-c", "from studyhall.cli.commands import main; main()", *args]
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_seed_whose_commit_reply_is_lost_says_so_and_exits_3(fresh_server, monkeypatch):
    fresh = fresh_server
    with CuttingProxy(server_address(fresh), lose_reply_to=COMMIT[fresh.backend]) as proxy:
        monkeypatch.setenv("DATABASE_URL", through(proxy, fresh))
        result = run("seed")
    assert proxy.cuts == 1
    assert result.exit_code == 3, result.output  # cli.EXIT_COMMIT_OUTCOME_UNKNOWN
    assert "may or may not be loaded" in result.stderr
    assert "studyhall-db status" in result.stderr
    # The server did commit: the data is there, and seeding again says so.
    use(fresh, monkeypatch)
    again = run("seed")
    assert again.exit_code == 0, again.output
    assert "already loaded: nothing changed" in again.stdout


def test_a_connection_cut_in_the_middle_of_seed_is_a_message_not_a_traceback(
    fresh_server, tmp_path
):
    fresh = fresh_server
    # PostgreSQL's load streams its rows with COPY: the cut comes inside a COPY there.
    verb = b"COPY" if fresh.backend == "postgresql" else b"INSERT INTO"
    with CuttingProxy(server_address(fresh), cut_at=verb + b" study_messages") as proxy:
        process = cli_process(["seed"], through(proxy, fresh), tmp_path)
        stdout, stderr = process.communicate(timeout=120)
    assert proxy.cuts == 1
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "The connection to the database was lost while the command ran" in stderr, stderr
    assert "run the command again" in stderr
    assert "Pa55" not in stderr
    # Nothing of the load was committed.
    assert "        0" in run("status").stdout


KILL = {
    "mariadb": (
        "SELECT id FROM information_schema.processlist "
        "WHERE state LIKE 'Waiting for table metadata lock%' AND info LIKE 'DROP TABLE%'",
        "KILL {}",
    ),
    "postgresql": (
        "SELECT pid FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND query LIKE 'DROP TABLE%'",
        "SELECT pg_terminate_backend({})",
    ),
}


def test_drop_killed_by_the_server_while_waiting_is_a_message_not_a_traceback(
    fresh_server, tmp_path
):
    seeded = fresh_server
    engine = create_engine(seeded.url, poolclass=NullPool)
    find, kill = KILL["postgresql" if seeded.backend == "postgresql" else "mariadb"]
    process = None
    try:
        with engine.connect() as holder, engine.connect() as killer:
            holder.exec_driver_sql("SELECT COUNT(*) FROM schools").scalar()  # holds a lock
            url = seeded.url.render_as_string(hide_password=False)
            process = cli_process(["drop", "--yes"], url, tmp_path)
            victim = None
            for _ in range(200):  # the drop waits for the holder's lock: find it, kill it
                victim = killer.execute(text(find)).scalar()
                killer.rollback()
                if victim is not None or process.poll() is not None:
                    break
                time.sleep(0.05)
            assert victim is not None, "the drop was not seen waiting for the lock"
            killer.exec_driver_sql(kill.format(int(victim)))
            killer.commit()
            stdout, stderr = process.communicate(timeout=60)
            holder.rollback()
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.communicate()
        engine.dispose()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert "connection" in stderr.lower() and "again" in stderr, stderr
    assert table_names(seeded) >= set(Base.metadata.tables)  # nothing was dropped


def test_a_statement_the_database_rejects_is_a_message_not_a_traceback(fresh):
    assert run("init").exit_code == 0
    engine = create_engine(fresh.url, poolclass=NullPool)
    with engine.begin() as conn:  # a schema older than the code
        conn.exec_driver_sql("ALTER TABLE subjects DROP COLUMN description")
    engine.dispose()
    result = run("seed")
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "The database reported an error while the command ran" in result.stderr
    assert "description" in result.stderr and "`studyhall-db migrate`" in result.stderr
    assert "Traceback" not in result.stderr


def test_setup_in_an_empty_folder_uses_the_embedded_database(tmp_path):
    # Nothing configured (the autouse fixture cleared DATABASE_URL and DB_*), as `make run`.
    result = run("setup")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "instance" / "studyhall.sqlite3").is_file()
    assert "(created)" in result.stdout and "Loaded the sample data at scale 1" in result.stdout


# One schema, two ways to build it: `init` records the head, so `migrate` has nothing to do;
# tables without a record are refused in one line that names the command to run.


def forget_the_revision(settings):
    """As `init` left a database before it recorded the head revision."""
    engine = create_engine(settings.url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    engine.dispose()


def one_line_error(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_init_then_migrate_is_a_no_op(fresh):
    assert run("init").exit_code == 0
    result = run("migrate")
    assert result.exit_code == 0, result.output
    assert f"migration: {migrations.head_revision()}" in result.stdout
    assert f"migration: {migrations.head_revision()}" in run("status").stdout


def test_migrate_of_tables_without_a_revision_says_to_stamp(fresh):
    assert run("init").exit_code == 0
    forget_the_revision(fresh)

    line = one_line_error(run("migrate"))

    assert "no Alembic revision" in line and "run `studyhall-db stamp`" in line
    assert "migration: none" in run("status").stdout


def test_stamp_records_the_head_and_migrate_then_has_nothing_to_do(fresh):
    assert run("init").exit_code == 0
    forget_the_revision(fresh)

    stamped = run("stamp")

    assert stamped.exit_code == 0, stamped.output
    assert f"migration: {migrations.head_revision()}" in stamped.stdout
    migrated = run("migrate")
    assert migrated.exit_code == 0, migrated.output
    assert run("seed").exit_code == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["stamp", "nonesuch"], "No revision 'nonesuch'"),
        (["stamp"], "none of the studyhall tables"),
    ],
)
def test_stamp_refusals_are_one_line(fresh, args, says):
    assert run("check").exit_code == 0  # the database exists, with no tables
    line = one_line_error(run(*args))
    assert says in line


def test_stamp_with_a_revision_and_purge(fresh):
    assert run("init").exit_code == 0
    assert run("stamp", "base").exit_code == 0
    assert "migration: none" in run("status").stdout
    result = run("stamp", "--purge", migrations.head_revision())
    assert result.exit_code == 0, result.output
    assert f"migration: {migrations.head_revision()}" in result.stdout


def test_an_installed_copy_finds_its_migrations_without_the_checkout(tmp_path):
    # As from a wheel: the package alone, run from a folder with no alembic.ini.
    site = tmp_path / "site"
    shutil.copytree(
        Path(cli.__file__).parents[1],
        site / "studyhall",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    work = tmp_path / "work"
    work.mkdir()
    script = (
        "import sys, studyhall\n"
        "from studyhall.cli.commands import main\n"
        f"assert studyhall.__file__.startswith({str(site)!r}), studyhall.__file__\n"
        "main(sys.argv[1:])\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "DATABASE_URL": f"sqlite:///{work / 'copy.sqlite3'}",
    }

    def studyhall_db(*args):
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    for args in (["setup"], ["migrate"], ["status"]):
        result = studyhall_db(*args)
        assert result.returncode == 0, (args, result.stderr)
    assert f"migration: {migrations.head_revision()}" in result.stdout


WHEEL_JOB = Path(__file__).resolve().parents[2] / ".ci" / "wheel"


def test_the_wheel_installed_in_a_fresh_venv_migrates_and_serves_pages():
    # The CI job itself (~50 s: it builds the wheel and installs its dependencies from the
    # package index): setup, migrate, status and two pages, from the installed package only.
    result = subprocess.run(
        [str(WHEEL_JOB)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/login and /my_courses rendered" in result.stdout
    assert "site-packages/studyhall" in result.stdout
