"""End to end in a real browser: Debian's Chromium, headless, driven by Playwright.

A sample student signs in, opens "My courses" and a course, starts a study session,
sends a message and ends it; the test saves a screenshot under its temporary folder.
Installs nothing: without /usr/bin/chromium it skips, or fails under
STUDYHALL_REQUIRE_SERVERS=1 (CI installs the browser; see .ci/run).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from studyhall.app import create_app
from studyhall.database import DatabaseManager
from studyhall.db.backends import ensure_database
from studyhall.sample_data import DEMO_PASSWORD
from tests.conftest import REQUIRE_SERVERS, throwaway_settings

CHROMIUM = Path(os.environ.get("STUDYHALL_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STUDENT = "student1@example.edu"


def browser_problem() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


def sample_database_for_browser(tmp_path: Path) -> None:
    """Fail (servers required) or skip without a browser; else make the process's database
    a SQLite file under `tmp_path` with the sample data at scale 1."""
    problem = browser_problem()
    if problem and REQUIRE_SERVERS:
        pytest.fail(f"{problem}; STUDYHALL_REQUIRE_SERVERS=1 makes this a failure")
    if problem:
        pytest.skip(f"{problem}; the browser test needs it")
    settings = throwaway_settings("sqlite", tmp_path)
    ensure_database(settings)
    DatabaseManager.initialize(settings)
    DatabaseManager.create_tables()
    DatabaseManager.populate_sample_data(scale=1)


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    """The app on a SQLite file with the sample data, served on a free port."""
    sample_database_for_browser(tmp_path)
    app = create_app({"SECRET_KEY": "browser-test-secret"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_a_student_studies_in_a_real_browser(base_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.set_default_timeout(10_000)
            page.goto(f"{base_url}/my_courses")
            expect(page).to_have_url(f"{base_url}/login?next=/my_courses")
            page.get_by_label("E-mail address").fill(STUDENT)
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in").click()

            expect(page).to_have_url(f"{base_url}/my_courses")
            expect(page.get_by_role("heading", name="My courses")).to_be_visible()
            page.screenshot(path=str(tmp_path / "my-courses.png"), full_page=True)
            page.locator(".grid h2 a").first.click()
            expect(page.get_by_role("heading", name="Learning units")).to_be_visible()

            # A session left running (the sample data has some) is ended first.
            if page.locator(".flash.info a").count():
                page.locator(".flash.info a").click()
                page.get_by_role("button", name="End session").click()
                expect(page.locator(".badge")).to_have_text("completed")
                page.locator(".crumbs a").nth(1).click()

            page.get_by_role("button", name="Start study session").first.click()
            expect(page.locator(".badge")).to_have_text("active")
            page.get_by_label("Your message").fill("Can you explain this unit with an example?")
            page.get_by_role("button", name="Send").click()
            expect(page.locator(".message.student").last).to_contain_text("with an example")
            page.get_by_role("button", name="End session").click()

            expect(page.locator(".badge")).to_have_text("completed")
            expect(page.get_by_role("button", name="End session")).to_have_count(0)
            shot = tmp_path / "study-session.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 5_000
        finally:
            browser.close()
