"""Web-app settings: `SECRET_KEY`, `STUDYHALL_ENV`, the server's thread count and how long
the manager's counts are cached.

Read through `studyhall.config.read_environment()`, the one reader of the
environment, into one frozen object. Outside production a missing secret is replaced by
a random one (sessions then end when the process does); in production an unsafe secret
stops the app from starting.
"""

from __future__ import annotations

import math
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from studyhall.config import (
    PRODUCTION,
    deployment_environment,
    inprocess_worker_enabled,
    read_environment,
)
from studyhall.errors import ConfigurationError
from studyhall.log import get_logger

log = get_logger(__name__)

MIN_SECRET_LENGTH = 32
# Values copied from tutorials and templates: anyone can sign a session with them.
KNOWN_DEFAULTS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "default",
        "dev",
        "development",
        "insecure",
        "key",
        "please-change-me",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "supersecret",
        "test",
        "your-secret-key",
        "your_secret_key",
    }
)

# Words people build keys from: a key made of them is guessed from a word list, however long.
KNOWN_WORDS = (
    "correcthorsebatterystaple",
    "loremipsum",
    "thequickbrownfox",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1234567890",
    "password",
    "passwd",
    "letmein",
    "changeme",
    "change",
    "secret",
    "super",
    "default",
    "insecure",
    "development",
    "production",
    "testing",
    "test",
    "example",
    "sample",
    "demo",
    "studyhall",
    "flask",
    "django",
    "session",
    "admin",
    "token",
    "signing",
    "cookie",
    "your",
    "key",
    "app",
    "the",
    "for",
    "dev",
    "prod",
    "my",
)
# Thresholds met by every key of `secrets.token_hex(16)` (32 characters) in 200,000 drawn:
# at least 9 different characters, and at least 90 bits by the estimate below.
MIN_DISTINCT_CHARACTERS = 8
MIN_ESTIMATED_BITS = 80.0
GENERATE_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"


# Levels of `requires_new` a request may open inside its unit of work. Each holds a
# second connection while the outer unit keeps its own: connections needed = threads x
# (1 + requires_new depth), else the pool raises PoolExhaustedError.
REQUIRES_NEW_DEPTH = 1

# Seconds a process keeps a school's counts (/school): 0 reads them on every request.
DEFAULT_SCHOOL_COUNTS_TTL = 5.0
MAX_SCHOOL_COUNTS_TTL = 3600.0

DEFAULT_RATELIMIT_STORAGE_URI = "memory://"
DEFAULT_RATELIMIT_PREFIX = "studyhall"
MAX_TRUSTED_PROXIES = 5


@dataclass(frozen=True)
class AppSettings:
    """The resolved web-app settings. Its repr never shows the secret."""

    secret_key: str
    environment: str = "development"
    # Threads of the WSGI server: the connection pool is sized to fit them (see pool_size).
    threads: int | None = None
    school_counts_ttl: float = DEFAULT_SCHOOL_COUNTS_TTL
    # Where failed sign-ins are counted: memory:// (per process) or a Redis URI (shared).
    ratelimit_storage_uri: str = DEFAULT_RATELIMIT_STORAGE_URI
    # Prefix of the throttle's Redis keys, for apps (or tests) that share one Redis.
    ratelimit_prefix: str = DEFAULT_RATELIMIT_PREFIX
    # Reverse proxies in front of the app whose X-Forwarded-For / -Proto are believed.
    trusted_proxies: int = 0
    # Run background jobs in a thread of the app's process (development).
    inprocess_worker: bool = False

    @property
    def is_production(self) -> bool:
        return self.environment == PRODUCTION

    @property
    def pool_size(self) -> int | None:
        """The smallest pool for `threads`, each with one level of `requires_new`; None if
        the thread count is not set (the database default, 10, fits 5 such threads)."""
        return self.threads * (1 + REQUIRES_NEW_DEPTH) if self.threads else None

    def __repr__(self) -> str:
        return (
            f"AppSettings(environment={self.environment!r}, threads={self.threads}, "
            f"school_counts_ttl={self.school_counts_ttl})"
        )


def secret_key_problem(key: str) -> str | None:
    """What makes `key` unsafe to sign sessions with, or None when it looks random."""
    if not key:
        return "SECRET_KEY is not set"
    if key.lower() in KNOWN_DEFAULTS:
        return "SECRET_KEY is a well-known default value"
    if len(key) < MIN_SECRET_LENGTH:
        return f"SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters"
    period = _period(key)
    if period <= len(key) // 2:
        return f"SECRET_KEY repeats a pattern of {period} character(s)"
    letters = re.sub(r"[^a-z0-9]", "", key.lower())
    for word in KNOWN_WORDS:
        letters = letters.replace(word, "")
    if len(letters) < MIN_SECRET_LENGTH // 2:
        return "SECRET_KEY is made of well-known words"
    steps = sum(abs(ord(b) - ord(a)) == 1 for a, b in zip(key, key[1:], strict=False))
    if steps * 2 > len(key):
        return "SECRET_KEY is mostly a run of consecutive characters (abc..., 123...)"
    if len(set(key)) < MIN_DISTINCT_CHARACTERS:
        return f"SECRET_KEY has too few different characters ({len(set(key))})"
    bits = _estimated_bits(key)
    if bits < MIN_ESTIMATED_BITS:
        return f"SECRET_KEY has too little entropy (about {bits:.0f} bits)"
    return None


def _period(text: str) -> int:
    """The length of the shortest unit that `text` repeats (a prefix of it may end it)."""
    for size in range(1, len(text) // 2 + 1):
        if all(text[i] == text[i - size] for i in range(size, len(text))):
            return size
    return len(text)


def _estimated_bits(text: str) -> float:
    """Shannon's estimate of the key's entropy from its own character frequencies."""
    counts = Counter(text).values()
    return -sum(n * math.log2(n / len(text)) for n in counts)


def check_secret_key(secret_key: str | None, environment: str) -> str:
    """Return a usable secret key; in production refuse a missing or weak one.

    Outside production a missing key is replaced by a random one and a weak one is used
    with a warning.
    """
    key = (secret_key or "").strip()
    problem = secret_key_problem(key)
    if environment != PRODUCTION:
        if not key:
            log.warning(
                "SECRET_KEY is not set: using a random key for this process, so sessions end "
                f"when it stops. Set SECRET_KEY (e.g. `{GENERATE_KEY}`) to keep them."
            )
            return secrets.token_hex(32)
        if problem:
            log.warning(
                f"{problem}: it would be refused with STUDYHALL_ENV=production. Make one "
                f"with `{GENERATE_KEY}`."
            )
        return key
    if problem is None:
        return key
    raise ConfigurationError(
        f"{problem}, which is unsafe with STUDYHALL_ENV=production: anyone could forge a "
        f"login. Set SECRET_KEY to a long random value, e.g. the output of `{GENERATE_KEY}`."
    )


def load_app_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> AppSettings:
    """Resolve the settings from `environ` (default: environment and `.env`) and `overrides`.

    `overrides` are Flask config keys given to `create_app` (`SECRET_KEY`, `STUDYHALL_ENV`,
    `STUDYHALL_THREADS`, `STUDYHALL_SCHOOL_COUNTS_TTL`, `STUDYHALL_RATELIMIT_STORAGE_URI`,
    `STUDYHALL_RATELIMIT_PREFIX`, `STUDYHALL_TRUSTED_PROXIES`, `STUDYHALL_INPROCESS_WORKER`);
    they win over the environment.
    Raises ConfigurationError.
    """
    env = dict(read_environment() if environ is None else environ)
    env.update({k: str(v) for k, v in (overrides or {}).items() if v is not None})
    environment = deployment_environment(env)
    raw_threads = env.get("STUDYHALL_THREADS", "").strip()
    threads: int | None = None
    if raw_threads:
        if not raw_threads.isdigit() or not 1 <= int(raw_threads) <= 1000:
            raise ConfigurationError(
                f"STUDYHALL_THREADS={raw_threads!r} is not a thread count; use 1 to 1000."
            )
        threads = int(raw_threads)
    return AppSettings(
        secret_key=check_secret_key(env.get("SECRET_KEY"), environment),
        environment=environment,
        threads=threads,
        school_counts_ttl=school_counts_ttl(env.get("STUDYHALL_SCHOOL_COUNTS_TTL", "")),
        ratelimit_storage_uri=env.get("STUDYHALL_RATELIMIT_STORAGE_URI", "").strip()
        or DEFAULT_RATELIMIT_STORAGE_URI,
        ratelimit_prefix=env.get("STUDYHALL_RATELIMIT_PREFIX", "").strip()
        or DEFAULT_RATELIMIT_PREFIX,
        trusted_proxies=trusted_proxies(env.get("STUDYHALL_TRUSTED_PROXIES", "")),
        inprocess_worker=inprocess_worker_enabled(env),
    )


def trusted_proxies(raw: str) -> int:
    """The count from `STUDYHALL_TRUSTED_PROXIES` (blank: 0); ConfigurationError."""
    text = raw.strip() or "0"
    if not text.isdigit() or int(text) > MAX_TRUSTED_PROXIES:
        raise ConfigurationError(
            f"STUDYHALL_TRUSTED_PROXIES={raw!r} is not a number of reverse proxies; use 0 (the "
            f"app faces clients itself) to {MAX_TRUSTED_PROXIES}, e.g. 1 behind one nginx."
        )
    return int(text)


def school_counts_ttl(raw: str) -> float:
    """Seconds from `STUDYHALL_SCHOOL_COUNTS_TTL` (blank: the default); ConfigurationError."""
    text = raw.strip()
    if not text:
        return DEFAULT_SCHOOL_COUNTS_TTL
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_SCHOOL_COUNTS_TTL:  # also refuses nan
        raise ConfigurationError(
            f"STUDYHALL_SCHOOL_COUNTS_TTL={raw!r} is not a number of seconds; use 0 (count on "
            f"every request) to {MAX_SCHOOL_COUNTS_TTL:g}, e.g. {DEFAULT_SCHOOL_COUNTS_TTL:g}."
        )
    return seconds


__all__ = [
    "DEFAULT_RATELIMIT_PREFIX",
    "DEFAULT_RATELIMIT_STORAGE_URI",
    "DEFAULT_SCHOOL_COUNTS_TTL",
    "MAX_SCHOOL_COUNTS_TTL",
    "AppSettings",
    "GENERATE_KEY",
    "KNOWN_DEFAULTS",
    "KNOWN_WORDS",
    "MIN_DISTINCT_CHARACTERS",
    "MIN_ESTIMATED_BITS",
    "MAX_TRUSTED_PROXIES",
    "MIN_SECRET_LENGTH",
    "PRODUCTION",
    "REQUIRES_NEW_DEPTH",
    "check_secret_key",
    "load_app_settings",
    "school_counts_ttl",
    "secret_key_problem",
    "trusted_proxies",
]
