"""Login throttling: failed sign-ins per account and address slow down, then lock, for a while.

Only failures count, in moving windows of the `limits` library (the storage and strategy
library behind Flask-Limiter), held in memory by default or in Redis, so that several
processes share them (`STUDYHALL_RATELIMIT_STORAGE_URI`). Three scopes, each a ladder of
limits, so the wait grows from a minute to a lock of 15 minutes or an hour:

- the account from one address (`PAIR`): guessing one account's password;
- the address, whatever the account (`ADDRESS`): one password tried on many accounts;
- the account, whatever the address (`ACCOUNT`): guessing spread over many addresses.

Every window ends, so no lock lasts longer than its longest window after the last failure.
An attacker elsewhere cannot lock the owner out: the `PAIR` and `ADDRESS` limits are the
attacker's own, and the `ACCOUNT` limit is not applied at an address where the account
signed in successfully in the last 30 days. The account is named by a hash of the e-mail as
typed, whether or not such a user exists, so a lock tells nothing about who has an account.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from studyhall.errors import ConfigurationError

DEFAULT_STORAGE_URI = "memory://"
DEFAULT_PREFIX = "studyhall"
PAIR = "5 per minute; 10 per 15 minutes"
ADDRESS = "30 per minute; 100 per hour"
ACCOUNT = "50 per hour"
# How long a successful sign-in exempts its address from the account-wide limit.
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
STORAGE_SCHEMES = ("memory://", "redis://", "rediss://", "redis+unix://", "redis+sentinel://")


class ThrottleUnavailableError(ConfigurationError):
    """Raised when the throttle's storage (Redis) cannot be reached."""


@dataclass(frozen=True)
class _Scope:
    name: str
    limits: tuple[RateLimitItem, ...]


class LoginThrottle:
    """Counts failed sign-ins and says how long a client must wait before the next try."""

    def __init__(
        self,
        storage_uri: str = DEFAULT_STORAGE_URI,
        prefix: str = DEFAULT_PREFIX,
        *,
        pair: str = PAIR,
        address: str = ADDRESS,
        account: str = ACCOUNT,
    ) -> None:
        if not storage_uri.startswith(STORAGE_SCHEMES):
            raise ConfigurationError(
                f"STUDYHALL_RATELIMIT_STORAGE_URI must start with one of "
                f"{', '.join(STORAGE_SCHEMES)}; e.g. memory:// (one process) or "
                "redis://127.0.0.1:6379/0 (shared by every process of the app)."
            )
        try:
            storage = storage_from_string(storage_uri, key_prefix=prefix, wrap_exceptions=True)
        except LimitsConfigurationError as exc:
            raise ConfigurationError(
                f"The login throttle cannot use its storage: {exc}. For Redis install the "
                "client: pip install 'studyhall[redis]'."
            ) from exc
        assert isinstance(storage, Storage)  # the schemes above are all synchronous
        self.storage = storage
        self.prefix = prefix
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._pair = _Scope("pair", tuple(parse_many(pair)))
        self._address = _Scope("address", tuple(parse_many(address)))
        self._account = _Scope("account", tuple(parse_many(account)))

    def check(self) -> None:
        """Raise ThrottleUnavailableError unless the storage answers."""
        if not self.storage.check():
            raise ThrottleUnavailableError(
                "The login throttle's storage (STUDYHALL_RATELIMIT_STORAGE_URI) does not "
                "answer. Start Redis, correct the URI, or leave it unset for memory:// (then "
                "each process counts failed sign-ins on its own)."
            )

    def wait(self, email: str, address: str | None) -> int:
        """Seconds before this client may try this account again; 0 when it may now.

        Raises limits' StorageError when Redis stops answering.
        """
        waits = [0.0]
        now = time.time()
        for scope, ids in self._scopes(email, address, skip_account=self._known(email, address)):
            for item in scope.limits:
                if not self._limiter.test(item, *ids):
                    reset = self._limiter.get_window_stats(item, *ids).reset_time
                    waits.append(reset - now)
        return max(1, math.ceil(max(waits))) if max(waits) > 0 else 0

    def failed(self, email: str, address: str | None) -> None:
        """Count a failed sign-in against the account, the address and both together."""
        for scope, ids in self._scopes(email, address, skip_account=False):
            for item in scope.limits:
                self._limiter.hit(item, *ids)

    def succeeded(self, email: str, address: str | None) -> None:
        """Forget this address's failures on the account; exempt it from the account limit."""
        scope, ids = self._scopes(email, address, skip_account=True)[0]
        for item in scope.limits:
            self._limiter.clear(item, *ids)
        self.storage.incr(self._known_key(email, address), KNOWN_ADDRESS_SECONDS)

    def _known(self, email: str, address: str | None) -> bool:
        return self.storage.get(self._known_key(email, address)) > 0

    def _known_key(self, email: str, address: str | None) -> str:
        return f"{self.prefix}/login/known/{_account_id(email)}/{_address_id(address)}"

    def _scopes(
        self, email: str, address: str | None, *, skip_account: bool
    ) -> Sequence[tuple[_Scope, tuple[str, ...]]]:
        account, client = _account_id(email), _address_id(address)
        scopes = [
            (self._pair, (self.prefix, "login", "pair", account, client)),
            (self._address, (self.prefix, "login", "address", client)),
        ]
        if not skip_account:
            scopes.append((self._account, (self.prefix, "login", "account", account)))
        return scopes


def _account_id(email: str) -> str:
    """The account as typed, hashed: no e-mail address is stored in the throttle."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _address_id(address: str | None) -> str:
    """The client's address; IPv6 by its /64, which one subscriber usually holds whole."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return str(ip)


def retry_message(seconds: int) -> str:
    """'Too many failed sign-ins. Try again in ...' with the wait and the UTC time."""
    if seconds < 60:
        wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    at = time.strftime("%H:%M:%S", time.gmtime(time.time() + seconds))
    return f"Too many failed sign-ins. Try again in {wait} (at {at} UTC)."


__all__ = [
    "ACCOUNT",
    "ADDRESS",
    "DEFAULT_PREFIX",
    "DEFAULT_STORAGE_URI",
    "KNOWN_ADDRESS_SECONDS",
    "PAIR",
    "STORAGE_SCHEMES",
    "LoginThrottle",
    "StorageError",
    "ThrottleUnavailableError",
    "retry_message",
]
