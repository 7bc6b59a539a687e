"""The web app tried as an attacker would: each row an attack and the outcome it must meet.

A row is `Attack(name, run, expected)`: `run(scene)` acts and describes what happened in
words, and the test compares them with `expected`. Add a row for each new attack. Every
row runs on SQLite and MariaDB.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from studyhall.app import create_app
from studyhall.app.auth import LOGIN_FAILED, THROTTLE_EXTENSION, TOKEN_KEY
from studyhall.app.throttle import LoginThrottle
from studyhall.database import DatabaseManager
from studyhall.errors import ConfigurationError
from studyhall.models import User
from studyhall.sample_data import DEMO_PASSWORD
from studyhall.sample_data.demo_logins import disable_demo_logins
from studyhall.services.accounts import change_password
from tests.app.support import PASSWORD, World, csrf_token, user_email
from tests.conftest import require_backend

ATTACKER = "203.0.113.66"
OWNER = "192.0.2.10"
VICTIM = user_email("alice")
# secrets.token_hex(32) once.
STRONG_KEY = "3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b6d0f4a9c1e7b3d5f8a2c6e0b4d9f17"


@pytest.fixture(params=("sqlite", "mariadb"))
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite and MariaDB, the production target (overrides the three-backend fixture)."""
    name: str = request.param
    require_backend(name)
    return name


@dataclass
class Scene:
    """The app on a database holding `make_world()`, and ways to attack it."""

    app: Flask
    world: World

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def throttle(self, **tiers: str) -> None:
        """Use other limits (e.g. windows of seconds, to see locks end within a test)."""
        self.app.extensions[THROTTLE_EXTENSION] = LoginThrottle(**tiers)


def sign_in(
    client: FlaskClient, email: str, password: str, address: str, forwarded_for: str = ""
) -> TestResponse:
    """POST the login form from `address` (with an X-Forwarded-For header when given)."""
    return client.post(
        "/login",
        data={"csrf_token": csrf_token(client), "email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers={"X-Forwarded-For": forwarded_for} if forwarded_for else {},
    )


def refused_at(tries: Iterator[TestResponse]) -> tuple[int, TestResponse] | None:
    """The number and response of the first try answered 429, or None."""
    for number, response in enumerate(tries, start=1):
        if response.status_code == 429:
            return number, response
        assert response.status_code == 401, response.status_code
    return None


def wait_of(response: TestResponse) -> int:
    """Retry-After, checked against the page's message."""
    seconds = int(response.headers["Retry-After"])
    page = response.get_data(as_text=True)
    assert "Too many failed sign-ins. Try again in" in page
    assert re.search(r"\(at \d\d:\d\d:\d\d UTC\)", page)
    assert LOGIN_FAILED not in page
    return seconds


def brute_force_one_account(scene: Scene) -> str:
    """The finding: 547 wrong passwords in 20 s for one account, none refused."""
    client = scene.client()
    found = refused_at(sign_in(client, VICTIM, f"guess{n}", ATTACKER) for n in range(547))
    assert found is not None
    number, response = found
    wait = wait_of(response)
    right = sign_in(client, VICTIM, PASSWORD, ATTACKER).status_code
    within = "<=" if wait <= 60 else ">"
    return f"throttled at attempt {number}, wait {within} 60 s, right password {right}"


def brute_force_no_such_account(scene: Scene) -> str:
    """The same on an address nobody has: the same answer, so it tells nothing."""
    client = scene.client()
    ghost = "nobody-here@example.edu"
    found = refused_at(sign_in(client, ghost, f"guess{n}", ATTACKER) for n in range(50))
    assert found is not None
    within = "<=" if wait_of(found[1]) <= 60 else ">"
    return f"throttled at attempt {found[0]}, wait {within} 60 s"


def password_spraying(scene: Scene) -> str:
    """One password tried on many accounts from one address."""
    client = scene.client()
    emails = (f"user{n}@example.edu" for n in range(100))
    found = refused_at(sign_in(client, email, "Summer2026!", ATTACKER) for email in emails)
    assert found is not None
    return f"throttled at attempt {found[0]}"


def distributed_guessing(scene: Scene) -> str:
    """One account guessed from a new address each time; its owner signed in before."""
    owner = scene.client()
    assert sign_in(owner, VICTIM, PASSWORD, OWNER).status_code == 302
    client = scene.client()
    addresses = (f"198.51.{n // 250}.{n % 250 + 1}" for n in range(200))
    found = refused_at(sign_in(client, VICTIM, f"guess{a}", a) for a in addresses)
    assert found is not None
    owner_again = sign_in(scene.client(), VICTIM, PASSWORD, OWNER).status_code
    return f"throttled at attempt {found[0]}, owner at a known address {owner_again}"


def lock_out_the_owner(scene: Scene) -> str:
    """An attacker locks the account at its own address; the owner comes from another."""
    attacker = scene.client()
    found = refused_at(sign_in(attacker, VICTIM, f"guess{n}", ATTACKER) for n in range(30))
    assert found is not None
    owner = sign_in(scene.client(), VICTIM, PASSWORD, OWNER).status_code
    return f"attacker throttled at attempt {found[0]}, owner elsewhere {owner}"


def forged_forwarded_for(scene: Scene) -> str:
    """A made-up X-Forwarded-For on each try, to look like a new client every time."""
    client = scene.client()
    tries = (
        sign_in(client, VICTIM, f"guess{n}", ATTACKER, forwarded_for=f"10.9.{n}.1")
        for n in range(30)
    )
    found = refused_at(tries)
    assert found is not None
    return f"throttled at attempt {found[0]}"


def behind_a_proxy(scene: Scene) -> str:
    """Behind one trusted proxy, an attacker does not lock out the proxy's other clients."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "test-secret", "STUDYHALL_TRUSTED_PROXIES": 1}
    )
    proxy = "10.0.0.2"
    attacker = app.test_client()
    tries = (
        sign_in(attacker, VICTIM, f"guess{n}", proxy, forwarded_for=ATTACKER) for n in range(50)
    )
    found = refused_at(tries)
    assert found is not None
    owner = sign_in(app.test_client(), VICTIM, PASSWORD, proxy, forwarded_for=OWNER)
    return f"attacker throttled at attempt {found[0]}, owner through the proxy {owner.status_code}"


def growing_delay_then_lock(scene: Scene) -> str:
    """The wait grows with the failures, and even the lock ends (windows of seconds here)."""
    scene.throttle(pair="2 per 1 second; 4 per 5 seconds")
    client = scene.client()
    seen = []
    for _ in range(2):
        found = refused_at(sign_in(client, VICTIM, "wrong", ATTACKER) for _ in range(10))
        assert found is not None
        wait = wait_of(found[1])
        seen.append(f"refused at attempt {found[0]} for {'<=' if wait <= 1 else '>'} 1 s")
        time.sleep(wait)
    right = sign_in(client, VICTIM, PASSWORD, ATTACKER).status_code
    return f"{', then '.join(seen)}, then right password {right}"


def success_forgets_failures(scene: Scene) -> str:
    """The owner's typos: a successful sign-in clears its address's count."""
    refused = 0
    for _ in range(3):
        client = scene.client()
        for _ in range(4):
            refused += sign_in(client, VICTIM, "typo", OWNER).status_code == 429
        assert sign_in(client, VICTIM, PASSWORD, OWNER).status_code == 302
    return f"{refused} refused in 12 typos"


def weak_keys_in_production(scene: Scene) -> str:
    """SECRET_KEYs that look long enough but are guessable."""
    keys = [
        "a" * 32,
        "Summer2024!Summer2024!Summer2024",
        "abcdefghijklmnopqrstuvwxyz012345",
        "my-super-secret-key-for-the-app!",
        "aaaaaaaabbbbbbbbccccccccdddddddd",
    ]
    refused = 0
    for key in keys:
        try:
            create_app({"STUDYHALL_ENV": "production", "SECRET_KEY": key})
        except ConfigurationError as exc:
            assert "token_hex(32)" in str(exc)
            refused += 1
    create_app({"STUDYHALL_ENV": "production", "SECRET_KEY": STRONG_KEY})
    return f"{refused} of {len(keys)} refused, a random key starts"


def demo_accounts_in_production(scene: Scene) -> str:
    """The sample data's logins share a published password: production must not start."""
    DatabaseManager.populate_sample_data(clear_existing=True)
    production = {"STUDYHALL_ENV": "production", "SECRET_KEY": STRONG_KEY}
    with pytest.raises(ConfigurationError) as refused:
        create_app(production)
    message = str(refused.value)
    assert "studyhall-db disable-demo-logins" in message and DEMO_PASSWORD not in message
    disabled = disable_demo_logins(DatabaseManager.database())
    app = create_app(production)
    manager = sign_in(app.test_client(), "manager1@example.edu", DEMO_PASSWORD, OWNER)
    what = "them" if disabled else "none"
    return f"refused start, starts after disabling {what}, manager1 {manager.status_code}"


def page_for(client: FlaskClient) -> str:
    """What /my_courses answers this client: "200", or "302 to /login"."""
    response = client.get("/my_courses")
    if response.status_code == 302:
        return f"302 to {response.location.split('?')[0]}"
    return str(response.status_code)


def copied_cookie(scene: Scene, owner: FlaskClient) -> FlaskClient:
    """A client replaying the owner's session cookie (a shared computer, a proxy log)."""
    cookie = owner.get_cookie("session")
    assert cookie is not None
    thief = scene.client()
    thief.set_cookie("session", cookie.value)
    return thief


def signed_in_owner(scene: Scene) -> FlaskClient:
    owner = scene.client()
    assert sign_in(owner, VICTIM, PASSWORD, OWNER).status_code == 302
    return owner


def cookie_after_logout(scene: Scene) -> str:
    """A session cookie captured before logout, replayed after it."""
    owner = signed_in_owner(scene)
    thief = copied_cookie(scene, owner)
    before = page_for(thief)
    owner.post("/logout", data={"csrf_token": csrf_token(owner)})
    return f"before logout {before}, after logout {page_for(thief)}"


def cookie_after_sign_out_everywhere(scene: Scene) -> str:
    """The owner, worried, signs out everywhere from another browser."""
    thief = copied_cookie(scene, signed_in_owner(scene))
    laptop = signed_in_owner(scene)
    laptop.post("/logout/everywhere", data={"csrf_token": csrf_token(laptop)})
    return f"copied cookie {page_for(thief)}, laptop {page_for(laptop)}"


def cookie_after_password_change(scene: Scene) -> str:
    """The owner changes the password (services.accounts): other sessions end with it."""
    thief = copied_cookie(scene, signed_in_owner(scene))
    owner = signed_in_owner(scene)
    with owner.session_transaction() as cookie:
        keep = cookie[TOKEN_KEY]
    with DatabaseManager.get_session():
        user = User.get_by_email(VICTIM)
        assert user is not None
        change_password(user.id, "a brand new passphrase", keep_token=keep)
    return f"copied cookie {page_for(thief)}, owner {page_for(owner)}"


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[Scene], str]
    expected: str


ATTACKS = [
    Attack(
        "547 wrong passwords, one account, one address",
        brute_force_one_account,
        "throttled at attempt 6, wait <= 60 s, right password 429",
    ),
    Attack(
        "the same on an account that does not exist",
        brute_force_no_such_account,
        "throttled at attempt 6, wait <= 60 s",
    ),
    Attack(
        "one password on 100 accounts, one address", password_spraying, "throttled at attempt 31"
    ),
    Attack(
        "one account from 200 addresses",
        distributed_guessing,
        "throttled at attempt 51, owner at a known address 302",
    ),
    Attack(
        "attacker tries to lock the owner out",
        lock_out_the_owner,
        "attacker throttled at attempt 6, owner elsewhere 302",
    ),
    Attack(
        "a forged X-Forwarded-For on every try",
        forged_forwarded_for,
        "throttled at attempt 6",
    ),
    Attack(
        "behind a proxy (STUDYHALL_TRUSTED_PROXIES=1)",
        behind_a_proxy,
        "attacker throttled at attempt 6, owner through the proxy 302",
    ),
    Attack(
        "failures keep coming (windows of seconds)",
        growing_delay_then_lock,
        "refused at attempt 3 for <= 1 s, then refused at attempt 3 for > 1 s, "
        "then right password 302",
    ),
    Attack("the owner's own typos", success_forgets_failures, "0 refused in 12 typos"),
    Attack(
        "weak SECRET_KEY in production",
        weak_keys_in_production,
        "5 of 5 refused, a random key starts",
    ),
    Attack(
        "demo accounts in production",
        demo_accounts_in_production,
        "refused start, starts after disabling them, manager1 401",
    ),
    Attack(
        "cookie after logout",
        cookie_after_logout,
        "before logout 200, after logout 302 to /login",
    ),
    Attack(
        "cookie after 'Sign out everywhere'",
        cookie_after_sign_out_everywhere,
        "copied cookie 302 to /login, laptop 302 to /login",
    ),
    Attack(
        "cookie after a password change",
        cookie_after_password_change,
        "copied cookie 302 to /login, owner 200",
    ),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(attack: Attack, app: Flask, world: World) -> None:
    assert attack.run(Scene(app, world)) == attack.expected
