"""Web-app settings: SECRET_KEY refused in production when missing, default, short or weak."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from studyhall.app import create_app
from studyhall.app.config import DEFAULT_SCHOOL_COUNTS_TTL, check_secret_key, load_app_settings
from studyhall.errors import ConfigurationError

# secrets.token_hex(32) once: the shape of key the messages tell people to make.
STRONG = "5c1f0e6a9b3d47e28c6f1a0d9e4b7c3a2f8d6e1b0a9c4f7e3d2b8a6c5e1f0d94"


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (None, "SECRET_KEY is not set"),
        ("   ", "SECRET_KEY is not set"),
        ("changeme", "well-known default"),
        ("Secret", "well-known default"),
        ("dev", "well-known default"),
        ("short-but-not-default", "shorter than 32 characters"),
        ("a" * 32, "repeats"),
        ("Summer2024!Summer2024!Summer2024", "repeats"),
        ("k" * 16 + "9f3a" * 8, "too few different characters"),
        ("aaaaaaaabbbbbbbbccccccccdddddddd", "too few different characters"),
        ("abcdefghijklmnopqrstuvwxyz012345", "run of consecutive characters"),
        ("my-super-secret-key-for-the-app!", "well-known words"),
        ("correct horse battery staple xyz", "well-known words"),
        ("studyhall-production-secret-key-2026", "well-known words"),
        ("xx7xx1xxqxx9xxmxx2xxpxx5xx8xxzxk", "too little entropy"),
    ],
)
def test_production_refuses_an_unsafe_secret(secret: str | None, problem: str) -> None:
    env = {"STUDYHALL_ENV": "production"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    with pytest.raises(ConfigurationError, match=problem) as raised:
        load_app_settings(env)
    assert "token_hex" in str(raised.value)  # says how to make a good one


def test_production_accepts_a_long_random_secret() -> None:
    settings = load_app_settings({"STUDYHALL_ENV": "production", "SECRET_KEY": STRONG})
    assert settings.is_production and settings.secret_key == STRONG
    assert STRONG not in repr(settings)


def test_production_accepts_what_the_message_tells_people_to_run() -> None:
    """No false alarm on keys made as the message says (the shortest, 32 hex digits, too)."""
    for _ in range(2000):
        for key in (secrets.token_hex(32), secrets.token_hex(16), secrets.token_urlsafe(32)):
            assert check_secret_key(key, "production") == key


def test_development_warns_of_a_weak_secret_but_uses_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="studyhall"):
        settings = load_app_settings({"SECRET_KEY": "test-secret"})
    assert settings.secret_key == "test-secret"
    assert "would be refused with STUDYHALL_ENV=production" in caplog.text
    assert "token_hex" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="studyhall"):
        load_app_settings({"SECRET_KEY": STRONG})
    assert caplog.text == ""


def test_development_generates_a_random_secret_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="studyhall"):
        first, second = load_app_settings({}), load_app_settings({})
    assert len(first.secret_key) == 64 and first.secret_key != second.secret_key
    assert "SECRET_KEY is not set" in caplog.text


def test_the_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDYHALL_ENV", "production")
    with pytest.raises(ConfigurationError, match="not set"):
        create_app()
    Path(".env").write_text(f"SECRET_KEY={STRONG}\n")
    app = create_app()  # the embedded SQLite database in the test's folder
    assert app.config["SECRET_KEY"] == STRONG
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("threads", ["0", "many", "-3"])
def test_a_bad_thread_count_is_refused(threads: str) -> None:
    with pytest.raises(ConfigurationError, match="STUDYHALL_THREADS"):
        load_app_settings({"STUDYHALL_THREADS": threads})


def test_the_pool_is_sized_to_the_server_threads() -> None:
    from studyhall.database import DatabaseManager

    create_app({"SECRET_KEY": "x", "STUDYHALL_THREADS": 24})
    # Two connections per thread: its unit of work and one `requires_new` unit inside it.
    assert DatabaseManager.database().settings.pool_size == 48


def test_the_school_counts_ttl_defaults_to_a_few_seconds_and_can_be_set() -> None:
    assert load_app_settings({}).school_counts_ttl == DEFAULT_SCHOOL_COUNTS_TTL
    assert load_app_settings({"STUDYHALL_SCHOOL_COUNTS_TTL": " 0 "}).school_counts_ttl == 0
    assert load_app_settings({"STUDYHALL_SCHOOL_COUNTS_TTL": "2.5"}).school_counts_ttl == 2.5
    overridden = load_app_settings(
        {"STUDYHALL_SCHOOL_COUNTS_TTL": "2.5"}, {"STUDYHALL_SCHOOL_COUNTS_TTL": 30}
    )
    assert overridden.school_counts_ttl == 30


@pytest.mark.parametrize("raw", ["-1", "five", "nan", "inf", "3601"])
def test_a_nonsense_school_counts_ttl_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="STUDYHALL_SCHOOL_COUNTS_TTL.*use 0"):
        load_app_settings({"STUDYHALL_SCHOOL_COUNTS_TTL": raw})


def test_the_throttle_storage_defaults_to_memory_and_its_uri_stays_out_of_the_repr() -> None:
    default = load_app_settings({})
    assert (default.ratelimit_storage_uri, default.ratelimit_prefix) == ("memory://", "studyhall")
    uri = "redis://:hunter2-redis-password@127.0.0.1:6379/0"
    settings = load_app_settings(
        {"STUDYHALL_RATELIMIT_STORAGE_URI": f" {uri} ", "STUDYHALL_RATELIMIT_PREFIX": "app2"}
    )
    assert (settings.ratelimit_storage_uri, settings.ratelimit_prefix) == (uri, "app2")
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize("raw", ["-1", "one", "6"])
def test_a_nonsense_proxy_count_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="STUDYHALL_TRUSTED_PROXIES.*use 0"):
        load_app_settings({"STUDYHALL_TRUSTED_PROXIES": raw})
    assert load_app_settings({"STUDYHALL_TRUSTED_PROXIES": " 2 "}).trusted_proxies == 2
    assert load_app_settings({}).trusted_proxies == 0
