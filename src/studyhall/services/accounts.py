"""Account changes that end the account's other logins: a new password, a deactivation.

Someone who learnt the old password, or kept a copied cookie, must not stay signed in
once the owner has changed it or a manager has closed the account: each change revokes
the sessions in the same unit of work, so the change and the sign-out commit together
or not at all. (`User.set_password` alone only stores the hash, for new users.)
"""

from __future__ import annotations

from studyhall.db.decorators import with_db_session
from studyhall.db.transaction import get_current_session
from studyhall.models import User
from studyhall.services.errors import InvalidArgumentError, NotFoundError
from studyhall.services.user_sessions import revoke_user_sessions


def _user(user_id: int) -> User:
    user = get_current_session().get(User, user_id)
    if user is None:
        raise NotFoundError(f"No user has id {user_id}; check the id.")
    return user


@with_db_session
def change_password(user_id: int, new_password: str, *, keep_token: str | None = None) -> int:
    """Set the user's password and revoke every other session of theirs; how many were
    revoked. `keep_token`: the session making the change, which stays signed in."""
    user = _user(user_id)
    if not new_password:
        raise InvalidArgumentError("The new password is empty; choose a non-empty password.")
    user.set_password(new_password)
    return revoke_user_sessions(user_id, keep_token=keep_token)


@with_db_session
def deactivate_user(user_id: int) -> int:
    """Deactivate the account and revoke all its sessions; how many were revoked."""
    _user(user_id).is_active = False
    return revoke_user_sessions(user_id)


__all__ = ["change_password", "deactivate_user"]
