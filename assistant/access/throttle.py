"""Online password guessing, bounded (N4): attempts counted before the check, failures slowed rather than an
account locked, and password hashing bounded in parallel.

- Per client address: `host_limit` attempts in `window` seconds, then 429 until the oldest ages out.
- Per client address, for the bearer keys any route takes (N24): `host_limit` wrong keys in `window`
  seconds, then every bearer request from there is 429 (a right key too: else guessing goes on) until the
  oldest ages out. Right keys are not counted: a bot's steady traffic costs nothing.
- Per (name, address): `pair_limit` attempts, then 429 for that pair only. Counting the pair, not the name
  alone, means a stranger's wrong guesses cannot lock the account's owner out.
- Per name, from anywhere: after `slow_after` failures each further attempt waits, doubling up to `max_delay`
  seconds: spread-out guessing from many addresses gets slow, the right password still gets in.
- Attempts are counted when they start, so twenty at once are twenty, not zero until the first one fails.
- At most `concurrency` password checks run at once (argon2 takes 64 MB and a core each); `max_waiting` more
  may wait for a slot, and the rest are told the server is busy (503) without hashing anything.

Memory is bounded: each throttle forgets its least recently used keys beyond `max_keys`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class FailureThrottle:
    """A sliding window of attempt times per key."""

    def __init__(
        self,
        limit: int,
        window: float,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        with self._lock:
            times = self._recent(key)
            if len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window - self._clock())

    def attempt(self, key: str) -> float:
        """Counts an attempt that is about to be made: 0 when it may go ahead, else the seconds to wait (and
        the attempt is not counted)."""
        with self._lock:
            times = self._recent(key)
            if len(times) >= self.limit:
                return max(0.0, times[0] + self.window - self._clock())
            self._record(key, times)
            return 0.0

    def failed(self, key: str) -> None:
        with self._lock:
            self._record(key, self._recent(key))

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._recent(key))

    def forgive(self, key: str) -> None:
        """Takes back the latest attempt (it succeeded)."""
        with self._lock:
            times = self._times.get(key)
            if times:
                times.pop()

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._times.pop(key, None)

    def _record(self, key: str, times: deque[float]) -> None:
        times.append(self._clock())
        self._times[key] = times
        self._times.move_to_end(key)
        while len(self._times) > self.max_keys:
            self._times.popitem(last=False)

    def _recent(self, key: str) -> deque[float]:
        times = self._times.get(key, deque())
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times


class SignInBusy(Exception):
    """Too many password checks are running or waiting: answered 503, nothing hashed."""


@dataclass(frozen=True)
class Admission:
    """Whether a sign-in attempt may be checked now: `wait` > 0 refuses it (429); `delay` slows it first."""

    wait: float = 0.0
    delay: float = 0.0


class SignInGuard:
    def __init__(
        self,
        concurrency: int = 1,
        *,
        host_limit: int = 30,
        pair_limit: int = 5,
        slow_after: int = 5,
        max_delay: float = 8.0,
        window: float = 900.0,
        max_waiting: int = 8,
    ) -> None:
        self.hosts = FailureThrottle(host_limit, window)
        # wrong bearer keys per address (N24): every route checks a key, so guessing needs its own bound
        self.keys = FailureThrottle(host_limit, window)
        self.pairs = FailureThrottle(pair_limit, window)
        self.names = FailureThrottle(10**9, window)
        self.slow_after = slow_after
        self.max_delay = max_delay
        self.max_waiting = max_waiting
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._waiting = 0
        self._lock = threading.Lock()

    def admit(self, name: str, host: str) -> Admission:
        """Counts the attempt (before its check) and says whether it may go ahead."""
        wait = self.hosts.attempt(f"host:{host}")
        if wait:
            return Admission(wait=wait)
        if name:
            wait = self.pairs.attempt(self._pair(name, host))
            if wait:
                self.hosts.forgive(f"host:{host}")
                return Admission(wait=wait)
        failures = self.names.count(f"name:{name.lower()}") if name else 0
        if failures < self.slow_after:
            return Admission()
        return Admission(delay=min(self.max_delay, 0.25 * 2 ** (failures - self.slow_after)))

    def failed(self, name: str, host: str) -> None:
        if name:
            self.names.failed(f"name:{name.lower()}")

    def succeeded(self, name: str, host: str) -> None:
        self.hosts.forgive(f"host:{host}")
        if name:
            self.pairs.succeeded(self._pair(name, host))
            self.names.succeeded(f"name:{name.lower()}")

    def check(self, verify: Callable[[], T]) -> T:
        """The (slow) password check, in one of a bounded number of slots; SignInBusy when too many wait."""
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise SignInBusy
            self._waiting += 1
        try:
            with self._slots:
                return verify()
        finally:
            with self._lock:
                self._waiting -= 1

    @staticmethod
    def _pair(name: str, host: str) -> str:
        return f"pair:{name.lower()}@{host}"
