"""Database settings: read once from the environment (and `.env`), frozen, validated.

This is the only module that reads the environment. Precedence:
`DATABASE_URL` > `DB_USER`, `DB_PASSWORD`, `DB_HOST`, `DB_NAME` (+ `DB_PORT`, `DB_DIALECT`)
> an embedded SQLite file under `./instance/`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from studyhall.errors import ConfigurationError
from studyhall.log import get_logger

log = get_logger(__name__)

SettingsSource = Literal["DATABASE_URL", "DB_*", "embedded"]

REQUIRED_VARIABLES = ("DB_USER", "DB_PASSWORD", "DB_HOST", "DB_NAME")
OPTIONAL_VARIABLES = ("DB_PORT", "DB_DIALECT")
DIALECT_DRIVERS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "postgresql": "postgresql+psycopg",
}
# DB_DRIVER for MySQL and MariaDB -> SQLAlchemy's driver name. PyMySQL (pure Python) is the
# default; mysqlclient (MySQLdb, C) is faster but builds from source.
MYSQL_DRIVERS = {"pymysql": "pymysql", "mysqlclient": "mysqldb"}
MYSQLCLIENT_MISSING = (
    "the mysqlclient package is not installed: pip install 'studyhall[mysqlclient]' (it "
    "builds from source: on Debian/Ubuntu first apt-get install libmariadb-dev pkg-config), "
    "or unset DB_DRIVER to use PyMySQL."
)
DEFAULT_PORTS = {"mysql": 3306, "mariadb": 3306, "postgresql": 5432}
EMBEDDED_PATH = Path("instance") / "studyhall.sqlite3"

_IDENTIFIER = re.compile(r"[A-Za-z0-9_]{1,64}")
# Query parameters of a URL that can carry a secret (libpq's password, sslpassword, ...).
_SECRET_QUERY_KEYS = ("password", "passwd", "secret", "token")
# Query parameters that are the login password itself (PyMySQL and libpq names).
_PASSWORD_QUERY_KEYS = ("password", "passwd")
DEVELOPMENT = "development"
PRODUCTION = "production"
ENVIRONMENTS = (DEVELOPMENT, PRODUCTION)
SUPPORTED_BACKENDS = ("sqlite", "mysql", "mariadb", "postgresql")

# name -> (default, minimum, maximum)
POOL_LIMITS: dict[str, tuple[float, float, float]] = {
    "DB_POOL_SIZE": (10, 1, 1000),
    "DB_MAX_OVERFLOW": (5, 0, 1000),
    "DB_POOL_TIMEOUT": (10, 0.1, 3600),
    "DB_CONNECT_TIMEOUT": (5, 1, 600),
    # Every reply (read) and send (write) waits at most this long, for the connection's
    # whole life: a hung server fails the statement instead of blocking its thread.
    "DB_READ_TIMEOUT": (30, 1, 86400),
    "DB_WRITE_TIMEOUT": (30, 1, 86400),
    # PostgreSQL's server-side statement_timeout; 0 = off.
    "DB_STATEMENT_TIMEOUT": (0, 0, 86400),
    # Statements slower than this many milliseconds are logged once at WARNING; 0 = off.
    "DB_SLOW_MS": (200, 0, 86_400_000),
    # A pooled connection returned less than this many milliseconds ago is handed out
    # without a ping (HikariCP's aliveBypassWindowMs); 0 = ping every reuse. At most the
    # pool's recycle time (300 s), after which a connection is replaced anyway.
    "DB_PING_BYPASS_MS": (500, 0, 300_000),
}
# Read replicas (DATABASE_REPLICA_URLS or DB_REPLICA_HOSTS): name -> (default, min, max).
REPLICA_LIMITS: dict[str, tuple[float, float, float]] = {
    # A replica whose data is older than this is taken out of rotation until it catches up.
    "DB_REPLICA_MAX_LAG_MS": (1000, 10, 3_600_000),
    # Read-your-writes: how long a read may wait for a replica to apply the client's last
    # commit before it goes to the primary instead; 0 = never wait.
    "DB_REPLICA_WAIT_MS": (50, 0, 60_000),
    # How often replicas are checked (reachable, lag), in and out of rotation.
    "DB_REPLICA_PROBE_MS": (500, 50, 60_000),
    # Seconds to connect to a replica: one that does not answer is left for another.
    "DB_REPLICA_CONNECT_TIMEOUT": (2, 1, 600),
}
# The settings above given in whole numbers; the others accept fractions of a second.
INTEGER_LIMITS = (
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "DB_CONNECT_TIMEOUT",
    "DB_SLOW_MS",
    "DB_PING_BYPASS_MS",
    *REPLICA_LIMITS,
)

_announced_embedded = False


def validate_identifier(name: str, what: str = "database name") -> str:
    """Return `name` when it is a plain SQL identifier, else raise ConfigurationError.

    Plain means letters, digits and `_`, at most 64 characters: such a name never needs
    quoting, so it can never break out of a DDL statement.
    """
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(
            f"The {what} {name!r} is not a plain identifier. Use only letters, digits and "
            "'_', at most 64 characters (no quotes, backticks, ';' or spaces)."
        )
    return name


@dataclass(frozen=True)
class ReplicaSettings:
    """The read replicas of the primary, and how reads use them. Its repr shows no password."""

    urls: tuple[URL, ...]
    max_lag_ms: int = 1000
    wait_ms: int = 50
    probe_ms: int = 500
    connect_timeout: int = 2

    @property
    def masked_urls(self) -> list[str]:
        """Each replica's URL with its passwords as `***`."""
        return [mask_url(url) for url in self.urls]

    def __repr__(self) -> str:
        return (
            f"ReplicaSettings(urls={self.masked_urls!r}, max_lag_ms={self.max_lag_ms}, "
            f"wait_ms={self.wait_ms}, probe_ms={self.probe_ms}, "
            f"connect_timeout={self.connect_timeout})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class DatabaseSettings:
    """The resolved database configuration. Its repr never shows the password."""

    url: URL
    source: SettingsSource = "embedded"
    pool_size: int = 10
    max_overflow: int = 5
    pool_timeout: float = 10.0
    connect_timeout: int = 5
    read_timeout: float = 30.0
    write_timeout: float = 30.0
    statement_timeout: float = 0.0
    slow_ms: int = 200
    ping_bypass_ms: int = 500
    extra: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Secret driver arguments other than the password (e.g. libpq's sslpassword), passed
    # as connect_args: in the URL's query string they would show wherever it is printed.
    connect_secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Read replicas; None (the default): every unit of work runs on the primary.
    replicas: ReplicaSettings | None = None

    def __post_init__(self) -> None:
        # SQLAlchemy masks only the URL's password field (in str(url), repr(engine), ...):
        # a password in the query string would show, so it moves into that field.
        url, moved = _secrets_out_of_query(self.url)
        if moved or url is not self.url:
            object.__setattr__(self, "url", url)
            object.__setattr__(self, "connect_secrets", self.connect_secrets + moved)

    @property
    def backend(self) -> str:
        """The backend name: `sqlite`, `mysql`, `mariadb` or `postgresql`."""
        return self.url.get_backend_name()

    @property
    def is_mysql(self) -> bool:
        return self.backend in ("mysql", "mariadb")

    @property
    def database(self) -> str | None:
        return self.url.database

    @property
    def secrets(self) -> list[str]:
        """Every secret the URL holds: its password and password-like query values."""
        found = [str(self.url.password)] if self.url.password else []
        for key, value in self.url.query.items():
            if _is_secret_key(key):
                found.extend([value] if isinstance(value, str) else value)
        found.extend(value for _, value in self.connect_secrets)
        return [s for s in found if s]

    @property
    def masked_url(self) -> str:
        """The URL with every password (user part or query) as `***`, safe to print and log."""
        return mask_url(self.url)

    def __repr__(self) -> str:
        return (
            f"DatabaseSettings(url={self.masked_url!r}, source={self.source!r}, "
            f"pool_size={self.pool_size}, max_overflow={self.max_overflow}, "
            f"pool_timeout={self.pool_timeout}, connect_timeout={self.connect_timeout}, "
            f"read_timeout={self.read_timeout:g}, write_timeout={self.write_timeout:g}, "
            f"statement_timeout={self.statement_timeout:g}, slow_ms={self.slow_ms}, "
            f"ping_bypass_ms={self.ping_bypass_ms}"
            + (f", replicas={self.replicas!r})" if self.replicas is not None else ")")
        )

    __str__ = __repr__


def mask_url(url: URL) -> str:
    """`url` with every password (user part or query) as `***`, safe to print and log."""
    secret = {k: "***" for k in url.query if _is_secret_key(k)}
    if secret:
        url = url.update_query_dict(secret)
    return url.render_as_string(hide_password=True)


def server_address(url: URL) -> str:
    """Where `url` connects, for messages: `host:port`, or for a PostgreSQL multi-host URL
    (`?host=a:5432&host=b:5433`, or `?host=a,b&port=5432,5433`) every `host:port` in order.
    """
    listed = url.query.get("host")
    if url.host or not listed:
        return f"{url.host}:{url.port}"
    hosts = [h for part in _values(listed) for h in part.split(",")]
    ports = [p for part in _values(url.query.get("port")) for p in part.split(",")]
    default = str(url.port or DEFAULT_PORTS.get(url.get_backend_name()) or "")
    addresses = []
    for index, host in enumerate(hosts):
        if host.count(":") == 1:  # host:port; an IPv6 address has more colons
            addresses.append(host)
            continue
        port = ports[index] if index < len(ports) else (ports[0] if len(ports) == 1 else "")
        addresses.append(f"{host}:{port or default}")
    return ", ".join(addresses)


def _values(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def _is_secret_key(key: str) -> bool:
    return any(s in key.lower() for s in _SECRET_QUERY_KEYS)


def _secrets_out_of_query(url: URL) -> tuple[URL, tuple[tuple[str, str], ...]]:
    """`url` without secrets in its query: the password moved into the password field,
    any other secret returned as (name, value) connect arguments."""
    keys = [key for key in url.query if _is_secret_key(key)]
    if not keys:
        return url, ()
    query = dict(url.query)
    password = url.password
    moved: list[tuple[str, str]] = []
    for key in keys:
        raw = query.pop(key)
        value = raw if isinstance(raw, str) else raw[-1]
        if key.lower() not in _PASSWORD_QUERY_KEYS:
            moved.append((key, value))
        elif password not in (None, "") and str(password) != value:
            # Never echo either value.
            raise ConfigurationError(
                "DATABASE_URL gives the password twice, in user:password@ and as "
                f"?{key}=, with different values. Keep only one of them."
            )
        else:
            password = value
    return url.set(password=password, query=query), tuple(moved)


def read_environment(dotenv_path: str | os.PathLike[str] | None = ".env") -> dict[str, str]:
    """Return the environment merged over `.env`; real variables always win."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ)
    return merged


def deployment_environment(environ: Mapping[str, str] | None = None) -> str:
    """The deployment environment from `STUDYHALL_ENV`: `development` (the default, when
    unset) or `production`, in lower case. Anything else is a ConfigurationError: a typo
    such as `prod` must not quietly turn every production guard off.
    """
    env = read_environment() if environ is None else environ
    raw = env.get("STUDYHALL_ENV", "").strip()
    value = raw.lower() or DEVELOPMENT
    if value not in ENVIRONMENTS:
        raise ConfigurationError(
            f"STUDYHALL_ENV={raw!r} is not a deployment environment: set it to "
            f"{PRODUCTION!r} or {DEVELOPMENT!r} (the default when it is unset)."
        )
    return value


def is_production(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `STUDYHALL_ENV` is `production` (destructive operations then refuse)."""
    return deployment_environment(environ) == PRODUCTION


def metrics_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `STUDYHALL_METRICS` turns Prometheus metrics on: `1` / `true` / `yes` / `on`;
    unset, `0`, `false`, `no` or `off` leave them off; anything else is an error."""
    return _switch("STUDYHALL_METRICS", "metrics", environ)


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `STUDYHALL_TRACING` turns OpenTelemetry spans on, read like
    `STUDYHALL_METRICS`."""
    return _switch("STUDYHALL_TRACING", "tracing", environ)


def inprocess_worker_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `STUDYHALL_INPROCESS_WORKER` has the web app run background jobs in a thread
    of its own process (for development; production runs `studyhall-db worker`), read
    like `STUDYHALL_METRICS`."""
    return _switch("STUDYHALL_INPROCESS_WORKER", "the in-process worker", environ)


# A study session with no activity for this long is over: the worker closes it at its
# last activity, and ending it later records no more (minutes; 2 hours by default).
SESSION_IDLE_MINUTES = "STUDYHALL_SESSION_IDLE_MINUTES"
DEFAULT_SESSION_IDLE_MINUTES = 120
MAX_SESSION_IDLE_MINUTES = 7 * 24 * 60


def session_idle_limit(environ: Mapping[str, str] | None = None) -> timedelta:
    """How long a study session may go without activity before it is over, from
    `STUDYHALL_SESSION_IDLE_MINUTES` (whole minutes, 1 to 10080; 120 when unset)."""
    env = read_environment() if environ is None else environ
    raw = env.get(SESSION_IDLE_MINUTES, "").strip()
    if not raw:
        return timedelta(minutes=DEFAULT_SESSION_IDLE_MINUTES)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_SESSION_IDLE_MINUTES:
        raise ConfigurationError(
            f"{SESSION_IDLE_MINUTES}={raw!r} is not a number of minutes from 1 to "
            f"{MAX_SESSION_IDLE_MINUTES}; set one (e.g. 120 for 2 hours), or unset it for "
            f"the default of {DEFAULT_SESSION_IDLE_MINUTES}."
        )
    return timedelta(minutes=int(raw))


def _switch(name: str, what: str, environ: Mapping[str, str] | None) -> bool:
    env = read_environment() if environ is None else environ
    raw = env.get(name, "").strip()
    value = raw.lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(
        f"{name}={raw!r} is not a switch: set it to 1 to turn {what} on, or "
        "unset it (or 0) to leave it off."
    )


def metrics_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token `STUDYHALL_METRICS_TOKEN` that lets a non-loopback client read
    /metrics; None when unset (then only loopback clients may)."""
    env = read_environment() if environ is None else environ
    return env.get("STUDYHALL_METRICS_TOKEN", "").strip() or None


def log_level(environ: Mapping[str, str] | None = None) -> int:
    """The level of `LOG_LEVEL` (a name such as `INFO`, or a number); INFO when unset."""
    env = read_environment() if environ is None else environ
    raw = env.get("LOG_LEVEL", "").strip()
    if not raw:
        return logging.INFO
    if raw.isdigit():
        return int(raw)
    level = logging.getLevelNamesMapping().get(raw.upper())
    if level is None:
        raise ConfigurationError(
            f"LOG_LEVEL={raw!r} is not a logging level: use DEBUG, INFO, WARNING, ERROR or "
            "CRITICAL."
        )
    return level


def load_settings(
    environ: Mapping[str, str] | None = None, *, base_dir: Path | None = None
) -> DatabaseSettings:
    """Resolve the settings from `environ` (default: the environment and `.env`).

    Raises ConfigurationError listing every problem at once.
    """
    env = read_environment() if environ is None else dict(environ)
    problems: list[str] = []
    pool = _pool_settings(env, problems)

    raw_url = env.get("DATABASE_URL", "").strip()
    url: URL | None
    source: SettingsSource
    if raw_url:
        source = "DATABASE_URL"
        url = _url_from_database_url(raw_url, problems, _mysql_driver(env, problems))
    elif any(env.get(name) not in (None, "") for name in REQUIRED_VARIABLES + OPTIONAL_VARIABLES):
        source = "DB_*"
        url = _url_from_parts(env, problems)
    else:
        source = "embedded"
        url = _embedded_url(base_dir)

    if problems or url is None:
        raise ConfigurationError(
            "The database configuration is invalid:\n  - "
            + "\n  - ".join(problems)
            + "\nFix these variables (in the environment or .env), set DATABASE_URL, or unset "
            "every DB_* variable to use the embedded SQLite database."
        )
    if source == "embedded":
        _announce_embedded(url)
    replicas = _replica_settings(env, url)
    return DatabaseSettings(
        url=url,
        source=source,
        pool_size=int(pool["pool_size"]),
        max_overflow=int(pool["max_overflow"]),
        pool_timeout=float(pool["pool_timeout"]),
        connect_timeout=int(pool["connect_timeout"]),
        read_timeout=float(pool["read_timeout"]),
        write_timeout=float(pool["write_timeout"]),
        statement_timeout=float(pool["statement_timeout"]),
        slow_ms=int(pool["slow_ms"]),
        ping_bypass_ms=int(pool["ping_bypass_ms"]),
        replicas=replicas,
    )


def _pool_settings(
    env: Mapping[str, str],
    problems: list[str],
    limits: Mapping[str, tuple[float, float, float]] = POOL_LIMITS,
    prefix: str = "DB_",
) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, (default, low, high) in limits.items():
        key = name.removeprefix(prefix).lower()
        raw = env.get(name, "").strip()
        if not raw:
            values[key] = default
            continue
        integer = name in INTEGER_LIMITS
        try:
            number = int(raw) if integer else float(raw)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            problems.append(f"{name}={raw!r} is not {kind}; use {kind} from {low:g} to {high:g}.")
            continue
        if not low <= number <= high:
            problems.append(
                f"{name}={raw!r} is out of range; use a value from {low:g} to {high:g}."
            )
            continue
        values[key] = number
    return values


def _replica_settings(env: Mapping[str, str], primary: URL) -> ReplicaSettings | None:
    """The replicas DATABASE_REPLICA_URLS or DB_REPLICA_HOSTS name; None when neither is set."""
    raw_urls = env.get("DATABASE_REPLICA_URLS", "").strip()
    raw_hosts = env.get("DB_REPLICA_HOSTS", "").strip()
    problems: list[str] = []
    # Checked with or without replicas: a bad value is an error either way.
    options = _pool_settings(env, problems, REPLICA_LIMITS, "DB_REPLICA_")
    if not raw_urls and not raw_hosts and not problems:
        return None
    urls: list[URL] = []
    family = _family(primary.get_backend_name())
    if raw_urls and raw_hosts:
        problems.append(
            "Set DATABASE_REPLICA_URLS or DB_REPLICA_HOSTS, not both: DB_REPLICA_HOSTS "
            "(host[:port],...) reuses the primary's user, password and database; "
            "DATABASE_REPLICA_URLS gives whole URLs."
        )
    elif not raw_urls and not raw_hosts:
        pass  # only bad options to report
    elif family == "sqlite":
        problems.append(
            "SQLite has no replicas: DATABASE_REPLICA_URLS and DB_REPLICA_HOSTS need a MySQL, "
            "MariaDB or PostgreSQL primary (DATABASE_URL or DB_*). Unset them."
        )
    else:
        name = "DATABASE_REPLICA_URLS" if raw_urls else "DB_REPLICA_HOSTS"
        parse = _replica_url if raw_urls else _replica_host
        for number, part in enumerate((raw_urls or raw_hosts).split(","), start=1):
            what = f"entry {number} of {name}"
            part = part.strip()
            if not part:
                problems.append(f"{what} is empty; separate replicas with single commas.")
                continue
            url = parse(part, what, primary, problems)
            if url is None:
                continue
            address = (url.host, url.port or DEFAULT_PORTS[family])
            seen = [(u.host, u.port or DEFAULT_PORTS[family]) for u in (primary, *urls)]
            if address in seen:
                again = "is the primary itself" if address == seen[0] else "repeats a replica"
                problems.append(
                    f"{what} ({address[0]}:{address[1]}) {again}; list each replica once."
                )
                continue
            urls.append(url)
    if problems:
        raise ConfigurationError(
            "The read replica configuration is invalid:\n  - "
            + "\n  - ".join(problems)
            + "\nFix these variables (in the environment or .env), or unset "
            "DATABASE_REPLICA_URLS and DB_REPLICA_HOSTS to run every unit on the primary."
        )
    return ReplicaSettings(
        urls=tuple(urls),
        max_lag_ms=int(options["max_lag_ms"]),
        wait_ms=int(options["wait_ms"]),
        probe_ms=int(options["probe_ms"]),
        connect_timeout=int(options["connect_timeout"]),
    )


def _family(backend: str) -> str:
    return "mysql" if backend in ("mysql", "mariadb") else backend


def _replica_url(raw: str, what: str, primary: URL, problems: list[str]) -> URL | None:
    try:
        url = make_url(raw)
        url.port  # noqa: B018 - a non-numeric port raises only when read
    except (ArgumentError, ValueError):
        problems.append(  # never the raw value: it may hold a password
            f"{what} is not a valid SQLAlchemy URL; expected "
            "dialect+driver://user:password@host:port/database (percent-encode special "
            "characters, commas included, in the password)."
        )
        return None
    backend, family = url.get_backend_name(), _family(primary.get_backend_name())
    if _family(backend) != family:
        problems.append(
            f"{what} is a {backend} server, but the primary is {family}: replicas are copies "
            "of the primary, on the same kind of server."
        )
        return None
    driver, wanted = url.get_driver_name(), primary.get_driver_name()
    if "+" not in url.drivername:
        url = url.set(drivername=primary.drivername)
    elif driver != wanted:
        problems.append(
            f"{what} uses the driver {driver!r}, but the primary uses {wanted!r}: write it as "
            f"{backend}:// (the primary's driver is then used) or {backend}+{wanted}://."
        )
        return None
    if not url.database:
        url = url.set(database=primary.database)
    elif url.database != primary.database:
        problems.append(
            f"{what} names the database {url.database!r}, but the primary's is "
            f"{primary.database!r}: a replica holds the primary's database under its name."
        )
        return None
    return url


def _replica_host(raw: str, what: str, primary: URL, problems: list[str]) -> URL | None:
    # host, host:port, [v6 address] or [v6 address]:port
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else rest or ""
    elif raw.count(":") == 1:
        host, _, port = raw.partition(":")
    else:
        host, port = raw, ""
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        problems.append(
            f"{what} ({raw!r}) is not host or host:port (a port from 1 to 65535); e.g. "
            "DB_REPLICA_HOSTS=db2:3306,db3."
        )
        return None
    family = _family(primary.get_backend_name())
    # Only the primary's own host and port change (a multi-host URL's hosts go with them,
    # and its target_session_attrs=read-write, which a replica would refuse).
    base = primary.difference_update_query(["host", "hostaddr", "port", "target_session_attrs"])
    return base.set(host=host, port=int(port) if port else primary.port or DEFAULT_PORTS[family])


def _url_from_database_url(raw: str, problems: list[str], driver: str | None) -> URL | None:
    try:
        url = make_url(raw)
        url.port  # noqa: B018 - a non-numeric port raises only when read
    except (ArgumentError, ValueError):
        # Never echo the raw value: it may hold a password.
        problems.append(
            "DATABASE_URL is not a valid SQLAlchemy URL; expected the form "
            "dialect+driver://user:password@host:port/database (percent-encode special "
            "characters in the password, or use the DB_* variables instead)."
        )
        return None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        problems.append(
            f"DATABASE_URL names the backend {backend!r}, which studyhall does not support; "
            f"use one of: {', '.join(SUPPORTED_BACKENDS)}."
        )
        return None
    if url.drivername in ("mysql", "mariadb") and driver:
        url = url.set(drivername=f"{url.drivername}+{driver}")
    elif url.drivername in DIALECT_DRIVERS:
        url = url.set(drivername=DIALECT_DRIVERS[url.drivername])
    elif backend in ("mysql", "mariadb") and driver and url.get_driver_name() != driver:
        problems.append(
            f"DB_DRIVER={_driver_setting(driver)} but DATABASE_URL names the driver "
            f"{url.drivername!r}: write the URL as {backend}:// or {backend}+{driver}://, or "
            "unset DB_DRIVER."
        )
        return None
    if _check_mysqlclient(url, _what_asked(driver), problems) is None:
        return None
    if backend != "sqlite":
        if not url.database:
            problems.append("DATABASE_URL names no database; add /<database name> to its end.")
        else:
            _check_identifier(url.database, "database name in DATABASE_URL", problems)
    return url


def _url_from_parts(env: Mapping[str, str], problems: list[str]) -> URL | None:
    missing = [name for name in REQUIRED_VARIABLES if name not in env]
    missing += [n for n in ("DB_USER", "DB_HOST", "DB_NAME") if n in env and not env[n].strip()]
    if missing:
        problems.append(
            "Missing database variables: "
            + ", ".join(sorted(set(missing), key=REQUIRED_VARIABLES.index))
            + " (DB_USER, DB_PASSWORD, DB_HOST and DB_NAME go together; "
            "DB_PASSWORD may be set to an empty value)."
        )
    driver = _mysql_driver(env, problems)
    dialect = env.get("DB_DIALECT", "").strip().lower() or "mysql"
    if dialect not in DIALECT_DRIVERS:
        problems.append(
            f"DB_DIALECT={dialect!r} is not supported; use one of: {', '.join(DIALECT_DRIVERS)}."
        )
    port: int | None = None
    raw_port = env.get("DB_PORT", "").strip()
    if raw_port:
        if raw_port.isdigit() and 0 < int(raw_port) < 65536:
            port = int(raw_port)
        else:
            problems.append(f"DB_PORT={raw_port!r} is not a port number; use 1 to 65535.")
    name = env.get("DB_NAME", "").strip()
    if name:
        _check_identifier(name, "database name in DB_NAME", problems)
    drivername = DIALECT_DRIVERS.get(dialect, "")
    if driver and dialect in ("mysql", "mariadb"):
        drivername = f"{dialect}+{driver}"
        _check_mysqlclient(URL.create(drivername), _what_asked(driver), problems)
    if problems:
        return None
    return URL.create(
        drivername,
        username=env["DB_USER"].strip(),
        password=env["DB_PASSWORD"],
        host=env["DB_HOST"].strip(),
        port=port or DEFAULT_PORTS[dialect],
        database=name,
    )


def _mysql_driver(env: Mapping[str, str], problems: list[str]) -> str | None:
    """SQLAlchemy's name of the driver DB_DRIVER asks for; None when unset (or invalid)."""
    raw = env.get("DB_DRIVER", "").strip()
    if not raw:
        return None
    if raw.lower() not in MYSQL_DRIVERS:
        problems.append(
            f"DB_DRIVER={raw!r} is not supported; use one of: {', '.join(MYSQL_DRIVERS)} "
            "(pymysql when unset)."
        )
        return None
    return MYSQL_DRIVERS[raw.lower()]


def _driver_setting(driver: str) -> str:
    return next(name for name, value in MYSQL_DRIVERS.items() if value == driver)


def _what_asked(driver: str | None) -> str:
    return f"DB_DRIVER={_driver_setting(driver)}" if driver else "DATABASE_URL"


def _check_mysqlclient(url: URL, what: str, problems: list[str]) -> URL | None:
    if url.get_driver_name() == "mysqldb" and importlib.util.find_spec("MySQLdb") is None:
        problems.append(f"{what} needs {MYSQLCLIENT_MISSING}")
        return None
    return url


def _check_identifier(name: str, what: str, problems: list[str]) -> None:
    try:
        validate_identifier(name, what)
    except ConfigurationError as exc:
        problems.append(str(exc))


def _embedded_url(base_dir: Path | None) -> URL:
    path = (base_dir or Path.cwd()) / EMBEDDED_PATH
    return URL.create("sqlite+pysqlite", database=str(path))


def _announce_embedded(url: URL) -> None:
    global _announced_embedded
    if not _announced_embedded:
        _announced_embedded = True
        log.info(
            "No DATABASE_URL or DB_* variables set: using the embedded SQLite database at %s",
            url.database,
        )


__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_SESSION_IDLE_MINUTES",
    "DEVELOPMENT",
    "DIALECT_DRIVERS",
    "DatabaseSettings",
    "ENVIRONMENTS",
    "EMBEDDED_PATH",
    "INTEGER_LIMITS",
    "MYSQLCLIENT_MISSING",
    "MYSQL_DRIVERS",
    "OPTIONAL_VARIABLES",
    "POOL_LIMITS",
    "PRODUCTION",
    "REPLICA_LIMITS",
    "REQUIRED_VARIABLES",
    "ReplicaSettings",
    "SESSION_IDLE_MINUTES",
    "SUPPORTED_BACKENDS",
    "SettingsSource",
    "deployment_environment",
    "inprocess_worker_enabled",
    "is_production",
    "load_settings",
    "mask_url",
    "log_level",
    "metrics_enabled",
    "metrics_token",
    "read_environment",
    "server_address",
    "session_idle_limit",
    "tracing_enabled",
    "validate_identifier",
]
