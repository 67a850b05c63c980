"""A circuit breaker for downloads: stop when a server is down instead of failing every row.

Each request attempt (a retry included) reports how it ended. When the last `limit`
attempts all failed the same way (no answer at all, or the same HTTP status) and none
succeeded in between, the breaker trips, and the downloader stops asking.
"""
import threading


class CircuitBreaker:
    """Counts failed attempts in a row, across threads; `limit` 0 never trips."""

    def __init__(self, limit):
        self.limit = limit
        self._lock = threading.Lock()
        self._kind, self._streak = None, 0
        self.tripped = None  # once tripped: why, in words

    def succeeded(self):
        """A request got an answer that was not a failure: the server is up."""
        with self._lock:
            self._kind, self._streak = None, 0

    def failed(self, kind, detail):
        """Record a failed attempt (`kind`: "no answer" or "HTTP 503", say; `detail`: the
        error). Return True once the breaker has tripped."""
        with self._lock:
            if self.tripped or not self.limit:
                return bool(self.tripped)
            if kind != self._kind:
                self._kind, self._streak = kind, 0
            self._streak += 1
            if self._streak >= self.limit:
                self.tripped = (f"the last {self._streak} requests all failed ({kind}; the last: "
                                f"{detail}) and none succeeded")
            return bool(self.tripped)
