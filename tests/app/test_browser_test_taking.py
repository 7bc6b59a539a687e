"""Taking a unit's test in a real browser (Chromium, the sample data on SQLite): the test
page and its result fit 390 px and pass axe-core, and the keyboard alone answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.app.test_browser import STUDENT
from tests.app.test_browser import base_url as base_url  # the served app (a fixture)
from tests.app.test_browser_a11y import WIDTHS, browser, problems_here, shots, sign_in

__all__ = ["base_url", "browser", "shots"]

RIGHT = "The explanation given in the unit"
WRONG = "None of the above."


def check(page: Any, label: str, shots: Path) -> list[str]:
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
        problems += problems_here(page, f"{label} at {width} px", shots)
        page.screenshot(path=str(shots / f"{label}-{width}.png"), full_page=True)
    return problems


def test_a_student_takes_the_test_all_but_one_right(
    base_url: str, browser: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(10_000)
    sign_in(page, base_url, STUDENT)
    page.locator(".grid h2 a").first.click()
    # The sample student has a session running, on a unit with a test.
    page.locator(".flash.info a").click()
    expect(page.locator(".badge")).to_have_text("active")
    page.get_by_role("button", name="Take the unit's test").click()
    expect(page).to_have_url(re.compile(r".*/study_sessions/\d+/test$"))

    questions = page.locator("fieldset.question")
    count = questions.count()
    assert count >= 3
    problems = check(page, "test", shots)

    # Keyboard: Tab reaches a question's radio group, arrows pick within it, Space checks.
    for n in range(count):
        group = questions.nth(n)
        answer = WRONG if n == count - 1 else RIGHT
        group.get_by_label(re.compile(re.escape(answer))).focus()
        page.keyboard.press("Space")
        expect(group.get_by_label(re.compile(re.escape(answer)))).to_be_checked()
    page.get_by_role("button", name="Submit your answers").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")

    percent = round(100 * (count - 1) / count)
    expect(page.get_by_role("heading", level=2)).to_have_text(
        f"You answered {count - 1} of {count} questions right ({percent}%)."
    )
    expect(page.locator(".verdict.right")).to_have_count(count - 1)
    problems += check(page, "test-result", shots)
    page.get_by_role("link", name="Back to your study session").click()
    expect(page.locator("main")).to_contain_text(f"Test: {count - 1} of {count} right.")
    problems += check(page, "study-session-after-test", shots)
    assert not problems, "\n".join(problems)
