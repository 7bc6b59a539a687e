"""Every page of every role in a real browser at 1280 and 390 px wide: nothing wider than
the screen, no serious or critical axe-core violation, no 404 (the favicon); and the
student's whole flow with the keyboard alone.

Runs as tests/app/test_browser.py does (Debian's Chromium, Playwright, the sample data on
SQLite). axe-core comes bundled in the PyPI package axe-playwright-python. Screenshots go
under the test's temporary folder, or to $STUDYHALL_SCREENSHOTS when it is set, with
axe-report.txt (appended to: every page checked and all its violations, any impact).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from studyhall.sample_data import DEMO_PASSWORD
from tests.app.test_browser import CHROMIUM, CHROMIUM_ARGS, STUDENT
from tests.app.test_browser import base_url as base_url  # the served app (a fixture)
from tests.conftest import REQUIRE_SERVERS

WIDTHS = (1280, 390)
BLOCKING = ("serious", "critical")
REPORT = "axe-report.txt"
PARENT, MANAGER = "parent1@example.edu", "manager1@example.edu"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("STUDYHALL_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Any]:
    # In the dev extra: missing, it skips on a user's machine and fails in CI.
    if importlib.util.find_spec("axe_playwright_python") is None:
        message = "axe-playwright-python is not installed (pip install -e '.[dev]')"
        if REQUIRE_SERVERS:
            pytest.fail(f"{message}; STUDYHALL_REQUIRE_SERVERS=1 makes this a failure")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def sign_in(page: Any, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(my_courses|family|school)$"))


def student_pages(page: Any, base_url: str) -> dict[str, str]:
    """The student's pages, found by following links as a person would."""
    page.goto(f"{base_url}/my_courses")
    course = page.locator(".grid h2 a").first.get_attribute("href")
    page.goto(f"{base_url}{course}")
    running = page.locator(".flash.info a")
    assert running.count() == 1, "student1 of the sample data has a session in progress"
    session = running.get_attribute("href")
    return {
        "my_courses": "/my_courses",
        "course": course,
        "study_session": session,
        "cancel": f"{session}/cancel",
        "history": "/history",
    }


def check_page(page: Any, url: str, name: str, shots: Path) -> list[str]:
    """Problems of the page at every width; saves a full-page screenshot of each."""
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
        page.goto(url)
        problems += problems_here(page, f"{name} at {width} px", shots)
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
    return problems


def problems_here(page: Any, label: str, shots: Path) -> list[str]:
    """The page as it is now: wider than its viewport, or a serious or critical axe violation."""
    from axe_playwright_python.sync_playwright import Axe

    problems = []
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"{label} is {scroll_width} px wide")
    violations = Axe().run(page).response["violations"]
    # The report beside the screenshots lists every violation, minor and moderate ones too.
    found = ", ".join(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes)" for v in violations)
    with (shots / REPORT).open("a") as report:
        report.write(f"{label}: {scroll_width} px wide; axe: {found or 'no violations'}\n")
    for violation in violations:
        if violation["impact"] in BLOCKING:
            targets = [node["target"] for node in violation["nodes"]][:3]
            problems.append(
                f"{label}: axe {violation['id']} ({violation['impact']}): "
                f"{violation['help']} {targets}"
            )
    return problems


# Who signs in (None: nobody), and their pages; the student's are found by following links.
ROLES: tuple[tuple[str | None, dict[str, str] | None], ...] = (
    (None, {"login": "/login"}),
    (STUDENT, None),
    (PARENT, {"family": "/family"}),
    (MANAGER, {"school": "/school"}),
)


def test_every_page_fits_390_px_and_passes_axe(base_url: str, browser: Any, shots: Path) -> None:
    problems: list[str] = []
    missing: list[str] = []
    for email, pages in ROLES:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        try:
            if email is not None:
                sign_in(page, base_url, email)
            for name, path in (pages or student_pages(page, base_url)).items():
                problems += check_page(page, f"{base_url}{path}", name, shots)
        finally:
            context.close()
    assert not missing, f"404s while browsing (the favicon?): {missing}"
    assert not problems, "\n".join(problems)
    names = ("login", "my_courses", "course", "study_session", "cancel", "history", "family")
    for name in (*names, "school"):
        assert all((shots / f"{name}-{width}.png").stat().st_size > 5_000 for width in WIDTHS)


def press_enter(page: Any) -> None:
    """Enter on the focused link or button, and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the focus is on `selector`; it must show that it has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{selector} has the focus but shows no outline"
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector} on {page.url}")


def test_a_student_studies_with_the_keyboard_alone(
    base_url: str, browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(10_000)
    page.goto(f"{base_url}/login")
    expect(page.get_by_label("E-mail address")).to_be_focused()  # on arrival
    page.keyboard.type(STUDENT)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    press_enter(page)
    expect(page).to_have_url(f"{base_url}/my_courses")

    # The first Tab offers to skip the top bar; taking it, the next Tab is the first course.
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    expect(page.locator(".skip")).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator(".grid h2 a").first).to_be_focused()
    press_enter(page)
    expect(page.get_by_role("heading", name="Learning units")).to_be_visible()

    # The sample student has a session running: continue it, and end it.
    tab_to(page, ".flash.info a")
    press_enter(page)
    tab_to(page, 'form[action$="/end"] button')
    press_enter(page)
    expect(page.locator(".flash.success")).to_contain_text("Well done: you ended")

    tab_to(page, '.crumbs a[href^="/courses/"]')
    press_enter(page)
    # With no session running, the course offers Start buttons (checked as the pages above).
    assert not problems_here(page, "course, no session running, at 390 px", shots)
    page.screenshot(path=str(shots / "keyboard-course-start-390.png"), full_page=True)
    tab_to(page, 'form[action$="/study_sessions"] button')
    press_enter(page)
    expect(page.locator(".badge")).to_have_text("active")

    tab_to(page, 'textarea[name="content"]')
    page.keyboard.type("Can you explain this unit with an example?")
    tab_to(page, 'form[action$="/messages"] button')
    page.keyboard.press("Enter")  # sent with fetch (static/study_session.js): no page load
    expect(page.locator(".message.student").last).to_contain_text("with an example")
    expect(page.locator('textarea[name="content"]')).to_be_focused()

    # Cancel asks first; "Keep studying" goes back without cancelling.
    tab_to(page, 'a[href$="/cancel"]')
    press_enter(page)
    expect(
        page.get_by_role("heading", name=re.compile("^Cancel your study session"))
    ).to_be_visible()
    page.screenshot(path=str(shots / "keyboard-cancel-confirmation-390.png"), full_page=True)
    tab_to(page, "a.button")
    press_enter(page)
    expect(page.locator(".badge")).to_have_text("active")

    tab_to(page, 'form[action$="/end"] button')
    press_enter(page)
    expect(page.locator(".badge")).to_have_text("completed")
    expect(page.locator(".flash.success")).to_contain_text("Well done: you ended")
    assert not problems_here(page, "study session, just ended, at 390 px", shots)
    page.screenshot(path=str(shots / "keyboard-ended-390.png"), full_page=True)
