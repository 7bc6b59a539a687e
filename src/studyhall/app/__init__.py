"""The studyhall web app: `flask --app studyhall.app run`.

`create_app(config=None)` builds it: settings from the environment (see
`studyhall.app.config`), the database from `DatabaseManager`, CSRF on every form, the
pages, and error pages that never show a traceback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flask import Flask

from studyhall.app import auth, family, health, school, student
from studyhall.app.access import IdConverter
from studyhall.app.config import AppSettings, load_app_settings
from studyhall.app.csrf import init_csrf
from studyhall.app.errors import init_errors
from studyhall.app.headers import init_headers
from studyhall.app.inputs import init_inputs
from studyhall.database import DatabaseManager
from studyhall.database.config import DatabaseSettings

# Keys of `config` that configure studyhall rather than Flask.
SETTINGS_KEYS = ("SECRET_KEY", "STUDYHALL_ENV", "STUDYHALL_THREADS")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `config` overrides Flask settings and the environment.

    `config["DATABASE_SETTINGS"]` (a DatabaseSettings) selects the database when the
    DatabaseManager is not initialized yet; otherwise it is configured from the
    environment. Raises ConfigurationError for unsafe or invalid settings.
    """
    config = dict(config or {})
    settings = load_app_settings(overrides={k: config[k] for k in SETTINGS_KEYS if k in config})
    _init_database(config.pop("DATABASE_SETTINGS", None), settings)

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
    app.extensions["studyhall"] = settings

    app.url_map.converters["id"] = IdConverter
    init_csrf(app)
    init_inputs(app)
    init_headers(app)
    init_errors(app)
    for module in (auth, student, family, school, health):
        app.register_blueprint(module.bp)
    app.jinja_env.globals["signed_in"] = auth.signed_in
    return app


def _init_database(database: DatabaseSettings | None, settings: AppSettings) -> None:
    """Initialize the manager once, with two pooled connections per server thread (one
    for a `requires_new` unit inside the request's unit of work).

    A pool smaller than the thread count makes threads queue for connections, and
    QueuePool's queue is not fair: one thread can wait for seconds while others re-take.
    """
    if DatabaseManager._database is not None:
        return  # already set up (by the embedding process or a test): use it as it is
    resolved = database or DatabaseManager.validate_environment()
    if settings.pool_size and resolved.pool_size < settings.pool_size:
        resolved = dataclasses.replace(resolved, pool_size=settings.pool_size)
    DatabaseManager.initialize(resolved)


__all__ = ["create_app"]
