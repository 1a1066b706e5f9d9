"""``LoginThrottle``: which sign-ins to refuse for a while after repeated failures. Decisions only.

Failures are counted per user name and per client address over a sliding window; reaching a limit locks
that key out for a while, during which even the right password is refused (a guesser learns nothing).
A success clears the user's count, not the address's (one account guessed right does not excuse the
address's failures on others). The state lives in the server process's memory: several workers each
count their own, so the limits hold per worker, and a restart forgets them.

No I/O and no clock: every call takes ``now`` (seconds), so the rules are tested without waiting.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from assay.access import AccessPolicy

#: Keys tracked before the oldest are dropped (an address spraying names must not grow memory forever).
_MAX_KEYS = 100_000


@dataclass
class _Count:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class LoginThrottle:
    """Failed sign-ins by user and by address, under ``policy``'s limits. Thread-safe."""

    def __init__(self, policy: AccessPolicy) -> None:
        self.policy = policy
        self._counts: dict[str, _Count] = {}
        self._lock = threading.Lock()

    def _keys(self, user: str, address: str) -> list[tuple[str, int, str]]:
        p = self.policy
        return [
            (f"user:{user.lower()}", p.max_user_failures, f"user {user!r}"),
            (f"address:{address}", p.max_address_failures, f"address {address}"),
        ]

    def refusal(self, user: str, address: str, now: float) -> str | None:
        """Why a sign-in as ``user`` from ``address`` is refused right now, or None if it may be tried."""
        with self._lock:
            for key, _, label in self._keys(user, address):
                count = self._counts.get(key)
                if count is not None and count.locked_until > now:
                    minutes = max(1, round((count.locked_until - now) / 60))
                    return (
                        f"too many failed sign-ins for {label}: signing in is locked for about "
                        f"{minutes} minute{'s' if minutes > 1 else ''}; try again then, or ask an admin to "
                        "reset the password (`assay passwd --user NAME`)"
                    )
        return None

    def failed(self, user: str, address: str, now: float) -> None:
        """Count a failure; a key reaching its limit within the window is locked out."""
        p = self.policy
        with self._lock:
            if len(self._counts) >= _MAX_KEYS:
                self._counts.clear()
            for key, limit, _ in self._keys(user, address):
                count = self._counts.setdefault(key, _Count())
                count.failures.append(now)
                while count.failures and count.failures[0] <= now - p.failure_window_s:
                    count.failures.popleft()
                if len(count.failures) >= limit:
                    count.locked_until = now + p.lockout_s
                    count.failures.clear()

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._counts.pop(f"user:{user.lower()}", None)
