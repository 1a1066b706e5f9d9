"""``Logins``: passwords, sign-ins and browser sessions over the store; ``AccessService`` delegates here.

A session cookie is ``<session id>.<secret>`` (8 and 32 random bytes, hex): the id finds the row, the
secret's SHA-256 is compared in constant time, as for API tokens. A session ends when it expires (the
policy's lifetime from sign-in), on logout, and when its user's password changes. One message answers a
wrong password and an unknown user alike. Failed sign-ins are counted in the store (every server worker
and restart sees the same counts); ``LoginThrottle`` decides from them whom to refuse. An attempt is
counted as a failure in the short transaction that checks the limit, before its password is checked (so
attempts in flight at once never check more passwords than the limit allows), and a right password takes
that failure back. Setting a user's password also lifts their lockout (the lockout message says to ask an
admin for exactly that).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping

from assay.access import AccessPolicy, FailedSignIns, NewSession, User
from assay.embedded import passwords
from assay.embedded.login_throttle import LoginThrottle, ThrottleKey
from assay.errors import PermissionDenied, Unauthenticated
from assay.services.access import MAX_PASSWORD, LoginLocked, check_password
from assay.services.tracking import now_ms
from assay.store.sql.access import AccessStore

_SESSION = re.compile(r"([0-9a-f]{16})\.([0-9a-f]{64})")
_WRONG = (
    "wrong user name or password: check both and try again "
    "(no password yet? an admin sets one with `assay passwd --user NAME`)"
)


def _bounded(password: str) -> str:
    """What to hash for a sign-in: a password longer than any stored one cannot match, and hashing a
    huge one would be a cheap way to load the server, so it is checked as the empty one (never valid)."""
    return password if len(password) <= MAX_PASSWORD else ""


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Logins:
    """Sign-ins and sessions of the users in ``store``, under ``policy``. Thread-safe. ``clock`` (epoch
    seconds) is the time the throttle goes by: tests pass their own to step past windows and lockouts."""

    def __init__(
        self, store: AccessStore, policy: AccessPolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.policy = policy
        self.throttle = LoginThrottle(policy)
        self.clock = clock

    def _count_attempt(self, keys: tuple[ThrottleKey, ...], now: float) -> None:
        """Count an attempt at ``now`` as a failure of ``keys`` before its password is checked, in the
        transaction that checks their limits: LoginLocked (nothing counted) while any of them is locked
        out. Attempts in flight each see the ones counted before them, so once a key's limit is reached
        the next are refused without a password check, in any server process."""

        def count(counts: Mapping[str, FailedSignIns]) -> dict[str, FailedSignIns]:
            refusal = self.throttle.refusal(keys, counts, now)
            if refusal is not None:
                raise LoginLocked(refusal)
            return {k.key: self.throttle.failed(k, counts[k.key], now) for k in keys}

        self.store.login_attempts.update([k.key for k in keys], count, now, self.throttle.forget_before(now))

    def _take_back(self, keys: tuple[ThrottleKey, ...], now: float, clear: str | None = None) -> None:
        """The password of the attempt counted at ``now`` was right: take its failure back from ``keys``
        (and forget the count of the key ``clear``, as a sign-in does for its user's)."""

        def take_back(counts: Mapping[str, FailedSignIns]) -> dict[str, FailedSignIns]:
            new = {k.key: self.throttle.withdrawn(k, counts[k.key], now) for k in keys}
            return new if clear is None else {**new, clear: FailedSignIns()}

        self.store.login_attempts.update(
            [k.key for k in keys], take_back, now, self.throttle.forget_before(now)
        )

    def login(self, name: str, password: str, address: str) -> NewSession:
        now = self.clock()
        keys = self.throttle.keys(name, address)
        self._count_attempt(keys, now)
        found = self.store.password_of(name) if 0 < len(name) <= 128 else None
        stored = found[1] if found else None
        if not passwords.verify_or_waste(stored, _bounded(password)):
            raise Unauthenticated(_WRONG)
        assert found is not None and stored is not None
        user = found[0]
        self._take_back(keys, now, clear=self.throttle.user_key(name))
        if passwords.needs_rehash(stored):
            self.store.set_password_hash(user.user_id, passwords.hash_password(password))
        return self.open_session(user)

    def open_session(self, user: User) -> NewSession:
        session_id, secret = secrets.token_hex(8), secrets.token_hex(32)
        now = now_ms()
        expires_at = now + int(self.policy.session_lifetime_s * 1000)
        self.store.add_session(session_id, user, sha256(secret), now, expires_at)
        return NewSession(user, f"{session_id}.{secret}", expires_at)

    def session_user(self, cookie: str) -> tuple[User, int]:
        """The user a session cookie signs in, and when the session expires (epoch ms)."""
        m = _SESSION.fullmatch(cookie.strip())
        found = None if m is None else self.store.session_owner(m.group(1))
        if m is None or found is None or not hmac.compare_digest(found.secret_sha256, sha256(m.group(2))):
            raise Unauthenticated("you are signed out (the session ended or is unknown): sign in again")
        if found.expires_at <= now_ms():
            raise Unauthenticated("your session expired: sign in again")
        return found.user, found.expires_at

    def end_session(self, cookie: str) -> None:
        m = _SESSION.fullmatch(cookie.strip())
        if m is None:
            return
        found = self.store.session_owner(m.group(1))
        if found is not None and hmac.compare_digest(found.secret_sha256, sha256(m.group(2))):
            self.store.delete_session(m.group(1))

    def check_current(self, user: User, current: str | None, address: str) -> None:
        """Refuse a password change whose ``current`` password is wrong: a failed sign-in of ``user``
        from ``address`` (the client's over HTTP, ``LOCAL_ADDRESS`` in-process). Guesses count against the
        user, as wrong sign-ins do (enough of them lock the user's sign-in from every address), and against
        that address only: another client's address is never locked by them."""
        found = self.store.password_of(user.name)
        stored = None if found is None else found[1]
        if stored is None and current is None:
            return  # no password yet: the caller's token is what proves who they are
        now = self.clock()
        keys = self.throttle.keys(user.name, address)
        self._count_attempt(keys, now)
        if not passwords.verify_or_waste(stored, _bounded(current or "")):
            raise PermissionDenied("the current password is wrong: give the one you sign in with")
        self._take_back(keys, now)

    def set_password(self, user: User, password: str | None) -> None:
        """Store a new password (None: none, so no sign-in), end every session of the user and lift
        their sign-in lockout."""
        hashed = None if password is None else passwords.hash_password(check_password(password))
        self.store.set_password_hash(user.user_id, hashed)
        self.store.delete_sessions_of(user.user_id)
        self.store.login_attempts.clear(self.throttle.user_key(user.name))
