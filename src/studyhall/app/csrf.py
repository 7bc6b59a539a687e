"""CSRF protection: a random token per session, a hidden field in every form, checked on POST.

A cross-site page can make the browser send our cookie, but cannot read our pages, so it
cannot know the token. SameSite=Lax cookies already stop most of this; the token also
covers old browsers and same-site subdomains.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session
from markupsafe import Markup, escape

SESSION_KEY = "_csrf_token"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    """This session's token, created on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def csrf_field() -> Markup:
    """The hidden form field carrying the token; put `{{ csrf_field() }}` in every form."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, escape(csrf_token()))


def rotate_csrf_token() -> None:
    """Forget the token, so that the next form gets a new one (call on login and logout)."""
    session.pop(SESSION_KEY, None)


def check_csrf() -> None:
    """Abort with 400 when an unsafe request lacks the session's token."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD) or request.headers.get(HEADER) or ""
    # compare_digest: the time taken must not tell how much of the token was right. It
    # takes str only when ASCII, and a sent token can be anything: compare the bytes.
    if not isinstance(expected, str) or not hmac.compare_digest(
        expected.encode(), sent.encode("utf-8", "surrogatepass")
    ):
        abort(
            400,
            description="The form has expired or did not come from this site. "
            "Go back, reload the page and try again.",
        )


def init_csrf(app: Flask) -> None:
    """Check every unsafe request and give templates `csrf_field()` and `csrf_token()`."""
    app.before_request(check_csrf)
    app.jinja_env.globals.update(csrf_field=csrf_field, csrf_token=csrf_token)


__all__ = [
    "FIELD",
    "HEADER",
    "SESSION_KEY",
    "UNSAFE_METHODS",
    "check_csrf",
    "csrf_field",
    "csrf_token",
    "init_csrf",
    "rotate_csrf_token",
]
