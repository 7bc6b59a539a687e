"""Login and logout, and the decorators that guard every other page.

The session cookie holds the user's id, role and display name and the token of a
server-side session (`studyhall.services.user_sessions`), signed with SECRET_KEY; the
password is checked against its hash on the server. A request is signed in only while
that session is live: logout, "sign out everywhere", a password change and a
deactivation revoke it, so a copied cookie stops working with them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import exc as sa_exc
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from studyhall.app.csrf import rotate_csrf_token
from studyhall.app.throttle import LoginThrottle, StorageError, retry_message
from studyhall.database import with_db_session
from studyhall.errors import DatabaseUnavailableError
from studyhall.models import User, UserRole
from studyhall.models.types import utcnow
from studyhall.services.user_sessions import (
    LAST_SEEN_INTERVAL,
    live_session,
    revoke_session,
    revoke_user_sessions,
    start_session,
    touch_session,
)

P = ParamSpec("P")
R = TypeVar("R")
U = TypeVar("U", bound=User)

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Wrong e-mail address or password."
# The cookie's key for the server-side session's token.
TOKEN_KEY = "session_token"
# Flask setting: False trusts the signed cookie alone, as before server-side sessions
# (a copied cookie then outlives logout). For benchmarks only; refused in production.
REVOCABLE_SESSIONS = "REVOCABLE_SESSIONS"
# `g` keys: this request's answer of `signed_in()`, and whether to record activity.
_SIGNED_IN = "studyhall_signed_in"
_TOUCH = "studyhall_touch_session"
LOGIN_UNAVAILABLE = "Signing in is unavailable for a moment. Please try again shortly."
THROTTLE_EXTENSION = "studyhall.login_throttle"
HOME_BY_ROLE = {
    UserRole.STUDENT: "student.my_courses",
    UserRole.PARENT: "family.overview",
    UserRole.MANAGER: "school.overview",
}


@dataclass(frozen=True)
class SignedIn:
    """What the session cookie remembers about the signed-in user."""

    user_id: int
    role: UserRole
    name: str


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("studyhall-dummy-password")


@with_db_session
def authenticate(email: str, password: str) -> SignedIn | None:
    """The user with this e-mail and password when active, else None; records the login."""
    user = User.get_by_email(email) if email.strip() else None
    if user is None:
        # Hash anyway, so the response time does not tell which e-mail addresses exist.
        check_password_hash(_dummy_hash(), password)
        return None
    if not user.check_password(password) or not user.is_active:
        return None
    user.last_login_at = utcnow()
    return SignedIn(user.id, user.role, user.full_name)


def signed_in() -> SignedIn | None:
    """The signed-in user from the session cookie, or None.

    Checks the cookie's server-side session once per request (one SELECT by primary key,
    in the active unit of work if there is one); a cookie whose session is not live is
    cleared.
    """
    if _SIGNED_IN in g:
        known: SignedIn | None = g.get(_SIGNED_IN)
        return known
    # Until the check answers, signed out: an error page rendered after the check failed
    # (the database is down) must not run it again.
    setattr(g, _SIGNED_IN, None)
    user = _from_cookie()
    if user is not None and current_app.config.get(REVOCABLE_SESSIONS, True):
        token = session.get(TOKEN_KEY)
        live = live_session(token) if isinstance(token, str) else None
        if live is None or not isinstance(token, str) or live.user_id != user.user_id:
            session.clear()
            user = None
        else:
            _seen(token, live.last_seen_at)
    setattr(g, _SIGNED_IN, user)
    return user


class ClaimedSession(NamedTuple):
    """What the cookie claims, before the server-side session is checked."""

    user: SignedIn
    token: str


def claimed_session() -> ClaimedSession | None:
    """The cookie's user and session token, unchecked: for a page that checks the session
    in its own query and then calls `confirm_signed_in`. None when there is nothing to
    claim, when this request was checked already, or with REVOCABLE_SESSIONS off."""
    if _SIGNED_IN in g or not current_app.config.get(REVOCABLE_SESSIONS, True):
        return None
    user, token = _from_cookie(), session.get(TOKEN_KEY)
    if user is None or not isinstance(token, str):
        return None
    return ClaimedSession(user, token)


def confirm_signed_in(claimed: ClaimedSession, last_seen_at: datetime) -> None:
    """Record that the page's own query found the claimed session live: `signed_in()`
    answers with its user for the rest of the request."""
    setattr(g, _SIGNED_IN, claimed.user)
    _seen(claimed.token, last_seen_at)


def _seen(token: str, last_seen_at: datetime) -> None:
    if utcnow() - last_seen_at >= LAST_SEEN_INTERVAL:
        g.setdefault(_TOUCH, token)


def shown_user() -> SignedIn | None:
    """`signed_in()` for templates: None while the database cannot be reached, so that
    the login form and error pages still render (every protected view checks for itself,
    and answers 503)."""
    try:
        return signed_in()
    except (DatabaseUnavailableError, sa_exc.TimeoutError):
        return None


def _from_cookie() -> SignedIn | None:
    try:
        return SignedIn(int(session["user_id"]), UserRole(session["role"]), session["name"])
    except (KeyError, ValueError, TypeError):
        return None


@bp.after_app_request
def _record_activity(response: Response) -> Response:
    """Write the session's `last_seen_at` after the page's unit of work, when it is due."""
    token = g.pop(_TOUCH, None)
    if token is not None:
        touch_session(token)
    return response


def login_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Send anonymous visitors to the login page, and back here after they sign in."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if signed_in() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def role_required(role: UserRole) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """`login_required`, and 403 for a signed-in user of another role."""

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            user = signed_in()
            if user is None or user.role != role:
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapper)

    return decorate


def current_user(model: type[U]) -> U:
    """The signed-in user's row, as `model`. Requires an active session and a login.

    A user deleted or deactivated since signing in is signed out.
    """
    user = signed_in()
    row = model.get(user.user_id) if user is not None else None
    if row is None or not row.is_active:
        session.clear()
        abort(redirect(url_for("auth.login")))
    return row


def _safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site (never another host), else None."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if not target.isprintable():  # CR/LF would break the header; browsers drop tabs
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc or "\\" in target else target


@bp.get("/")
def home() -> Response:
    user = signed_in()
    if user is None:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME_BY_ROLE[user.role]))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html", email="")
    email = request.form.get("email", "")
    throttle: LoginThrottle = current_app.extensions[THROTTLE_EXTENSION]
    try:
        # Refused before the password is checked: a locked client learns nothing more.
        wait = throttle.wait(email, request.remote_addr)
        if wait:
            flash(retry_message(wait), "error")
            page = render_template("login.html", email=email)
            return page, 429, {"Retry-After": str(wait)}
        user = authenticate(email, request.form.get("password", ""))
        if user is None:
            throttle.failed(email, request.remote_addr)
            flash(LOGIN_FAILED, "error")
            return render_template("login.html", email=email), 401
        throttle.succeeded(email, request.remote_addr)
    except StorageError:
        # Closed, not open: without its counts the throttle would let guessing through.
        current_app.logger.exception("The login throttle's storage failed")
        flash(LOGIN_UNAVAILABLE, "error")
        return render_template("login.html", email=email), 503
    # A fresh session on login: nothing from before (e.g. a planted token) survives.
    _end_session()
    token = start_session(
        user.user_id, user_agent=request.user_agent.string, address=request.remote_addr
    )
    rotate_csrf_token()
    session.update(user_id=user.user_id, role=user.role.value, name=user.name)
    session[TOKEN_KEY] = token
    return redirect(_safe_next(request.args.get("next")) or url_for(HOME_BY_ROLE[user.role]))


@bp.post("/logout")
def logout() -> Response:
    _end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere() -> Response:
    """Revoke every session of the user: other browsers, and any copy of a cookie."""
    user = signed_in()
    assert user is not None  # login_required
    revoke_user_sessions(user.user_id)
    session.clear()
    flash("You are signed out on every device.", "info")
    return redirect(url_for("auth.login"))


def _end_session() -> None:
    """Revoke the cookie's server-side session, if any, and clear the cookie."""
    token = session.get(TOKEN_KEY)
    if isinstance(token, str):
        revoke_session(token)
    session.clear()
    g.pop(_SIGNED_IN, None)


__all__ = [
    "ClaimedSession",
    "HOME_BY_ROLE",
    "LOGIN_FAILED",
    "REVOCABLE_SESSIONS",
    "LOGIN_UNAVAILABLE",
    "SignedIn",
    "TOKEN_KEY",
    "THROTTLE_EXTENSION",
    "U",
    "authenticate",
    "bp",
    "claimed_session",
    "confirm_signed_in",
    "current_user",
    "home",
    "login",
    "login_required",
    "logout",
    "logout_everywhere",
    "role_required",
    "shown_user",
    "signed_in",
]
