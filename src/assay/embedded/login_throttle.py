"""``LoginThrottle``: which sign-ins to refuse for a while after repeated failures. Decisions only.

Failures are counted per user name and per client address over a sliding window; reaching a limit locks
that key out for a while, during which even the right password is refused (a guesser learns nothing).
A success clears the user's count, not the address's (one account guessed right does not excuse the
address's failures on others).

An attempt is counted as a failure before its password is checked, in the transaction that checks the
limit (``assay.embedded.logins``): checking the limit, then the password (argon2, slow), then counting
would let every attempt in flight past the limit. So a key locks when the attempt that reaches its limit
starts, and an attempt whose password proves right takes its failure back (``withdrawn``): the key stays
locked only while the failures left still reach its limit, whichever attempt completed the lockout.

The counts are not kept here: they live in the store (``assay.store.sql.login_attempts``), so every
server worker and every restart sees the same ones. This module only decides, from the counts it is
given, whether to refuse and what a key's count becomes after a failure. No I/O and no clock: every
call takes ``now`` (epoch seconds), so the rules are tested without waiting or a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from assay.access import AccessPolicy, FailedSignIns

#: The longest user name a key holds: no user has a longer one (128), and a huge name posted to the form
#: must not make a huge key. Longer names share a key, which only locks out names nobody has.
_MAX_KEY_NAME = 160
#: Two failure times this close are one (the store keeps milliseconds).
_SAME_TIME = 0.001


@dataclass(frozen=True, slots=True)
class ThrottleKey:
    """What failures are counted under (``user:<name>`` or ``address:<addr>``), the key's limit within
    the window, and how a refusal names it."""

    key: str
    limit: int
    label: str


class LoginThrottle:
    """The lockout rules of ``policy``, applied to counts kept elsewhere."""

    def __init__(self, policy: AccessPolicy) -> None:
        self.policy = policy

    @staticmethod
    def user_key(user: str) -> str:
        """The key of ``user``'s count (user names are matched case-blind)."""
        return f"user:{user.lower()[:_MAX_KEY_NAME]}"

    def keys(self, user: str, address: str) -> tuple[ThrottleKey, ThrottleKey]:
        """The two keys a sign-in as ``user`` from ``address`` counts under: the user's, the address's."""
        p = self.policy
        return (
            ThrottleKey(self.user_key(user), p.max_user_failures, f"user {user[:_MAX_KEY_NAME]!r}"),
            ThrottleKey(f"address:{address[:_MAX_KEY_NAME]}", p.max_address_failures, f"address {address}"),
        )

    def refusal(
        self, keys: tuple[ThrottleKey, ...], counts: Mapping[str, FailedSignIns], now: float
    ) -> str | None:
        """Why a sign-in counted under ``keys`` is refused at ``now`` given their ``counts`` (keys without
        a count have none), or None if it may be tried."""
        for k in keys:
            count = counts.get(k.key)
            if count is not None and count.locked_until > now:
                minutes = max(1, round((count.locked_until - now) / 60))
                return (
                    f"too many failed sign-ins for {k.label}: signing in is locked for about "
                    f"{minutes} minute{'s' if minutes > 1 else ''}; try again then, or ask an admin to "
                    "reset the password (`assay passwd --user NAME`)"
                )
        return None

    def failed(self, key: ThrottleKey, count: FailedSignIns, now: float) -> FailedSignIns:
        """``count`` after one more failure at ``now``: failures older than the window drop out, and
        reaching the key's limit locks it out for ``lockout_s``. The failures that locked it are kept
        while it is locked (one may be ``withdrawn``); the first failure after the lockout starts the
        count over."""
        if 0 < count.locked_until <= now:
            count = FailedSignIns()
        cutoff = now - self.policy.failure_window_s
        failures = (*(t for t in count.failures if t > cutoff), now)
        if len(failures) >= key.limit:
            return FailedSignIns(failures, now + self.policy.lockout_s)
        return FailedSignIns(failures, count.locked_until)

    @staticmethod
    def withdrawn(key: ThrottleKey, count: FailedSignIns, at: float) -> FailedSignIns:
        """``count`` without the failure counted at ``at`` for an attempt whose password proved right
        (one failure at that time, to the millisecond the store keeps). The lockout is kept only while the
        failures left still reach the key's limit: the real failures alone decide it."""
        for i, t in enumerate(count.failures):
            if abs(t - at) < _SAME_TIME:
                failures = count.failures[:i] + count.failures[i + 1 :]
                return FailedSignIns(failures, count.locked_until if len(failures) >= key.limit else 0.0)
        return count

    def forget_before(self, now: float) -> float:
        """A count last changed before this time holds nothing that matters any more (its failures are
        out of the window and its lockout is over), so the store may delete it."""
        return now - max(self.policy.failure_window_s, self.policy.lockout_s)
