"""Failed-login throttling per (tenant, user, IP): a sliding window kept in memory on each node.

After ``max_failures`` failures inside ``window_s`` seconds the key is refused until the oldest
of them leaves the window; a successful login clears the key. Memory is bounded by ``max_keys``
(the least recently touched keys are forgotten first).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class LoginThrottle:
    """Counts failed logins and says how long a key must wait."""

    def __init__(
        self,
        max_failures: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[tuple[str, ...], deque[float]] = OrderedDict()

    def _recent(self, key: tuple[str, ...]) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = self.clock() - self.window_s
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, key: tuple[str, ...]) -> int | None:
        """Whole seconds to wait before this key may try again, or None when it may now."""
        times = self._recent(key)
        if len(times) < self.max_failures:
            return None
        wait = times[-self.max_failures] + self.window_s - self.clock()
        return max(1, int(wait + 0.999))

    def failed(self, key: tuple[str, ...]) -> None:
        times = self._recent(key)
        times.append(self.clock())
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: tuple[str, ...]) -> None:
        self._failures.pop(key, None)
