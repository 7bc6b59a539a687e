"""The studyhall web app: `flask --app studyhall.app run`.

`create_app(config=None)` builds it: settings from the environment (see
`studyhall.app.config`), the database from `DatabaseManager`, CSRF on every form, the
pages, and error pages that never show a traceback. With STUDYHALL_INPROCESS_WORKER=1
(development) a thread of the process runs the background jobs the pages enqueue.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import socket
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from studyhall.app import (
    auth,
    family,
    favicon,
    health,
    school,
    session_updates,
    student,
    student_tests,
)
from studyhall.app import metrics as metrics_page
from studyhall.app.access import IdConverter
from studyhall.app.causal_reads import init_causal_reads
from studyhall.app.config import AppSettings, load_app_settings
from studyhall.app.csrf import init_csrf
from studyhall.app.errors import init_errors
from studyhall.app.headers import init_headers
from studyhall.app.inputs import init_inputs
from studyhall.app.throttle import LoginThrottle
from studyhall.config import DatabaseSettings, log_level, tracing_enabled
from studyhall.database import DatabaseManager
from studyhall.db.tracing import enable_tracing
from studyhall.errors import ConfigurationError
from studyhall.jobs import Worker, load_builtin_handlers
from studyhall.log import configure_output, get_logger
from studyhall.models.pagination import set_cursor_key
from studyhall.sample_data.demo_logins import DISABLE_COMMAND, find_demo_logins

log = get_logger(__name__)

# Seconds the in-process worker gets at exit to finish its current job.
WORKER_STOP_TIMEOUT = 30.0

# Keys of `config` that configure studyhall rather than Flask.
SETTINGS_KEYS = (
    "SECRET_KEY",
    "STUDYHALL_ENV",
    "STUDYHALL_THREADS",
    "STUDYHALL_SCHOOL_COUNTS_TTL",
    "STUDYHALL_RATELIMIT_STORAGE_URI",
    "STUDYHALL_RATELIMIT_PREFIX",
    "STUDYHALL_TRUSTED_PROXIES",
    "STUDYHALL_INPROCESS_WORKER",
)
# app.extensions key of the in-process worker, when STUDYHALL_INPROCESS_WORKER=1 started one.
WORKER_EXTENSION = "studyhall.worker"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides Flask settings and the environment.

    `config["DATABASE_SETTINGS"]` (a DatabaseSettings) selects the database; without it,
    the environment does. A DatabaseManager initialized already is used as it is when it
    agrees. Raises ConfigurationError for unsafe or invalid settings, and for settings
    that differ from those of an initialized DatabaseManager.
    """
    config = dict(config or {})
    configure_output(log_level())
    settings = load_app_settings(overrides={k: config[k] for k in SETTINGS_KEYS if k in config})
    throttle = LoginThrottle(settings.ratelimit_storage_uri, settings.ratelimit_prefix)
    throttle.check()
    _init_database(config.pop("DATABASE_SETTINGS", None), settings)
    if settings.is_production:
        _refuse_demo_logins()

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        # Errors become our error pages, even in testing: no traceback reaches a browser.
        PROPAGATE_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.config.update({k: v for k, v in config.items() if k not in SETTINGS_KEYS})
    if settings.is_production and not app.config.get(auth.REVOCABLE_SESSIONS, True):
        raise ConfigurationError(
            "REVOCABLE_SESSIONS=False is for benchmarks only: without the server-side "
            "check a copied session cookie stays valid after logout. Remove it with "
            "STUDYHALL_ENV=production."
        )
    app.extensions["studyhall"] = settings
    app.extensions[auth.THROTTLE_EXTENSION] = throttle
    if settings.trusted_proxies:
        # The client's address (the throttle counts by it) and scheme, as the proxies saw it.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    # Page cursors are signed with the app's key, so links stay valid across processes.
    set_cursor_key(settings.secret_key)

    app.url_map.converters["id"] = IdConverter
    init_csrf(app)
    init_inputs(app)
    init_headers(app)
    init_errors(app)
    init_causal_reads(app, DatabaseManager.database())
    for module in (auth, student, student_tests, session_updates, family, health, favicon):
        app.register_blueprint(module.bp)
    school.init_app(app)
    metrics_page.init_app(app)
    if tracing_enabled():
        enable_tracing()  # into the global TracerProvider: the process sets up its exporter
    app.jinja_env.globals["signed_in"] = auth.shown_user
    if settings.inprocess_worker:
        app.extensions[WORKER_EXTENSION] = _start_worker(settings)
    return app


def _start_worker(settings: AppSettings) -> Worker:
    """Run background jobs in a thread of this process (STUDYHALL_INPROCESS_WORKER=1).

    For development: one process serves pages and runs the jobs they enqueue, woken at
    once by their commits. Stopped (after its current job) when the process exits.
    """
    if settings.is_production:
        log.warning(
            "STUDYHALL_INPROCESS_WORKER=1 runs background jobs inside the web server's process; "
            "in production run `studyhall-db worker` processes instead, so jobs neither slow "
            "requests nor stop with a server restart."
        )
    load_builtin_handlers()
    worker = Worker(name=f"{socket.gethostname()}:{os.getpid()}:app")
    worker.start()
    atexit.register(worker.stop, WORKER_STOP_TIMEOUT)
    return worker


def _refuse_demo_logins() -> None:
    """ConfigurationError while accounts sign in with the sample data's published password."""
    demo = find_demo_logins(DatabaseManager.database())
    if demo.count:
        raise ConfigurationError(
            f"{demo.count} active account(s) ({', '.join(demo.examples)}, ...) sign in with the "
            "sample data's published demo password, which is unsafe with "
            f"STUDYHALL_ENV=production. Deactivate them with `{DISABLE_COMMAND}` (their rows "
            "stay), give them new passwords, or point the app at a database without the "
            "sample data."
        )


def _init_database(database: DatabaseSettings | None, settings: AppSettings) -> None:
    """Initialize the manager once, with two pooled connections per server thread (one
    for a `requires_new` unit inside the request's unit of work).

    A pool smaller than the thread count makes threads queue for connections, and
    QueuePool's queue is not fair: one thread can wait for seconds while others re-take.
    A manager already initialized (by the embedding process or a test) is used as it is,
    provided it agrees with what the app was given: otherwise ConfigurationError.
    """
    if DatabaseManager.is_initialized():
        current = DatabaseManager.database().settings
        if database is not None and database != current:
            raise ConfigurationError(
                f"create_app() was given the database {database.masked_url}, but "
                f"DatabaseManager is already initialized with {current.masked_url}. Pass "
                "the same settings, none, or call DatabaseManager.cleanup() first."
            )
        if settings.pool_size and current.pool_size + current.max_overflow < settings.pool_size:
            raise ConfigurationError(
                f"STUDYHALL_THREADS={settings.threads} needs {settings.pool_size} pooled "
                f"connections, but DatabaseManager is already initialized with "
                f"{current.pool_size + current.max_overflow} (pool_size + max_overflow). Raise "
                "DB_POOL_SIZE, or create the app before initializing the manager."
            )
        return
    resolved = database or DatabaseManager.validate_environment()
    if settings.pool_size and resolved.pool_size < settings.pool_size:
        resolved = dataclasses.replace(resolved, pool_size=settings.pool_size)
    DatabaseManager.initialize(resolved)


__all__ = ["WORKER_EXTENSION", "create_app"]
