"""Concurrent, polite, resumable thumbnail downloads over pooled keep-alive connections:
a requests Session whose HTTPAdapter keeps urllib3's thread-safe pool and its Retry."""
import ipaddress
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (HTTPError, MaxRetryError, ProtocolError, ReadTimeoutError,
                                ResponseError)
from urllib3.util.retry import Retry

from .breaker import CircuitBreaker
from ..core.files import atomic_write_bytes
from ..core.images import sniff_extension, truncated

USER_AGENT = "anime-tagger/0.1 (Safebooru thumbnail downloader; requests)"
ERROR_HEADER = ("row", "id", "url", "reason")
RETRY_STATUS = (429, 500, 502, 503, 504)
SERVER_DOWN = "server down: "  # begins the reason of rows failed in an outage: a rerun retries them


class Stopped(Exception):
    """The download was stopped (Ctrl-C, or the server is down): leave this post for a rerun."""


def failure_kind(response, error):
    """How an attempt failed, for the circuit breaker: "no answer" for connection errors and
    timeouts, "HTTP <status>" for a status worth retrying, None for a redirect."""
    if error is not None:
        return "no answer"
    if response is not None and response.status in RETRY_STATUS:
        return f"HTTP {response.status}"
    return None


class _Retry(Retry):
    """urllib3 Retry that caps a server's Retry-After, so one reply cannot stall a worker, and
    reports every failed attempt to a circuit breaker, giving up at once when it has tripped."""

    max_retry_after = 60.0
    breaker = None

    def new(self, **kw):
        retry = super().new(**kw)
        retry.breaker = self.breaker
        return retry

    def parse_retry_after(self, retry_after):
        return min(super().parse_retry_after(retry_after), self.max_retry_after)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                  _stacktrace=None):
        kind = failure_kind(response, error)
        if kind and self.breaker is not None:
            detail = describe(error) if error is not None else f"HTTP {response.status}"
            if self.breaker.failed(kind, detail):
                reason = error or ResponseError(detail)
                raise MaxRetryError(_pool, url, reason) from reason
        return super().increment(method, url, response, error, _pool, _stacktrace)


@dataclass(frozen=True)
class FetchConfig:
    """How to talk to the server."""
    retries: int = 4
    backoff: float = 0.5  # seconds; doubles with each retry
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_bytes: int = 2 * 1024 * 1024
    max_rps: float = 0.0  # requests per second over all workers; 0 = no cap
    stop_after: int = 20  # failed attempts in a row, none succeeding, that stop the run; 0 = never
    user_agent: str = USER_AGENT


def make_session(config, maxsize, breaker=None):
    """A requests Session for many threads: keep-alive connections (up to `maxsize` per host)
    in urllib3's thread-safe pool behind an HTTPAdapter, whose urllib3 Retry retries with
    exponential backoff on connection errors, timeouts, 429 and 5xx (honouring
    Retry-After); every failed attempt is reported to `breaker`. Proxy and .netrc settings
    are not read from the environment on every request (trust_env off): that lookup was
    most of requests' cost per thumbnail, and download.py never used a proxy."""
    retry = _Retry(
        total=config.retries, connect=config.retries, read=config.retries,
        status=config.retries, backoff_factor=config.backoff, backoff_max=30,
        status_forcelist=RETRY_STATUS, allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True, raise_on_status=False)
    retry.breaker = breaker
    # each retry is logged by urllib3 at WARNING, which would print over the progress bar;
    # what finally failed goes to download_errors.csv
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=maxsize, max_retries=retry)
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": config.user_agent, "Accept": "image/*"})
    return session


class RateLimiter:
    """Spaces requests at least 1/rate seconds apart across threads (rate 0 = no limit).
    Its waits end at once, raising Stopped, when the `stop` event is set."""

    def __init__(self, rate, stop=None):
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()
        self._stop = stop or threading.Event()

    def wait(self):
        """Wait for this thread's turn to send a request."""
        if not self._interval:
            if self._stop.is_set():
                raise Stopped()
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        self.sleep(slot - now)

    def sleep(self, seconds):
        """Sleep, unless the download is stopped (then raise Stopped, at once)."""
        if self._stop.wait(max(0.0, seconds)):
            raise Stopped()


# What a public server tolerates from one client, and what this machine's own server takes.
POLITE_WORKERS, POLITE_RPS = 8, 10.0
LOOPBACK_WORKERS, LOOPBACK_RPS = 32, 0.0


def is_loopback(url):
    """True for a URL on this machine: localhost, 127.0.0.0/8 or ::1."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_pace(urls):
    """(workers, requests per second) for these URLs: the polite defaults, lifted when every
    one is on a loopback address (a local server, a test, the demo)."""
    urls = [u for u in urls if not check_url(u)]
    if urls and all(is_loopback(u) for u in urls):
        return LOOPBACK_WORKERS, LOOPBACK_RPS
    return POLITE_WORKERS, POLITE_RPS


def check_url(url):
    """Return a reason if `url` is not an http(s) URL we may fetch, else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"unsupported URL scheme {parts.scheme or '(none)'!r}; only http and https"
    if not parts.netloc:
        return "URL has no host"
    return None


def _read_body(raw, max_bytes):
    """Read a body from urllib3's response under requests', refusing bodies larger than
    max_bytes; a body shorter than its Content-Length raises ProtocolError (urllib3 enforces
    the length)."""
    declared = raw.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ValueError(f"body of {int(declared):,} bytes is over --max-bytes {max_bytes:,}")
    data = raw.read(max_bytes + 1, decode_content=True)
    if len(data) > max_bytes:
        raise ValueError(f"body is over --max-bytes {max_bytes:,}")
    return data


_BODY_ERRORS = (ProtocolError, ReadTimeoutError)


def describe(exc):
    """A one-line reason for a failed request: the cause rather than requests' or urllib3's
    wrappers."""
    if isinstance(exc, requests.RequestException) and exc.args and \
            isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return f"{type(exc).__name__}: {exc}"


def fetch_image(session, url, config, limiter, breaker=None):
    """GET one image; return (bytes, extension). Raises ValueError, urllib3 errors or Stopped."""
    breaker = breaker or CircuitBreaker(0)
    for attempt in range(config.retries + 1):
        limiter.wait()
        # urllib3's Retry covers everything up to the response headers (connect errors,
        # timeouts, 429/5xx with Retry-After); a body cut off or stalled midway is retried
        # here with the same exponential backoff.
        response = session.get(url, stream=True,
                               timeout=(config.connect_timeout, config.read_timeout))
        try:
            if response.status_code not in RETRY_STATUS:
                breaker.succeeded()
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code} {response.reason}")
            content_type = response.headers.get("Content-Type", "?")
            try:
                data = _read_body(response.raw, config.max_bytes)
                break
            except _BODY_ERRORS as exc:
                if breaker.failed("no answer", describe(exc)) or attempt == config.retries:
                    raise
        finally:
            response.raw.release_conn()  # back to the pool (Response.close() would drop it)
        limiter.sleep(min(30.0, config.backoff * 2 ** attempt))
    if not data:
        raise ValueError("empty body")
    ext = sniff_extension(data)
    if ext is None:
        raise ValueError(f"not an image ({content_type}, {len(data):,} bytes)")
    if truncated(data, ext):  # a body that ended early without the server saying so
        raise ValueError(f"truncated {ext} ({len(data):,} bytes, no end marker)")
    return data, ext


def existing_images(images_dir):
    """Map id -> file name for the complete images already in `images_dir`."""
    return dict(iter_images(images_dir))


def iter_images(images_dir):
    """Yield (id, file name) of each complete image in `images_dir`, streaming."""
    if os.path.isdir(images_dir):
        for entry in os.scandir(images_dir):
            stem, dot, ext = entry.name.partition(".")
            if dot and stem.isdigit() and not entry.name.startswith(".") and entry.is_file():
                yield int(stem), entry.name


class Downloader:
    """Downloads posts into a folder with daemon threads sharing one connection pool.

    stop() (or Ctrl-C in run(), or the circuit breaker tripping) ends the run at once:
    waiting workers return without a request, and requests in flight are abandoned rather
    than waited for (their posts are not recorded, so a rerun fetches them)."""

    def __init__(self, images_dir, config, workers):
        self.images_dir = Path(images_dir)
        self.config = config
        self.workers = workers
        self._stop = threading.Event()
        self.breaker = CircuitBreaker(config.stop_after)
        self._limiter = RateLimiter(config.max_rps, self._stop)
        self._session = make_session(config, maxsize=workers, breaker=self.breaker)

    def stop(self):
        self._stop.set()

    def download_one(self, post):
        """Fetch one post's thumbnail to <id>.<ext>; return None or the failure reason.
        Raises Stopped if the run was stopped first."""
        try:
            data, ext = fetch_image(self._session, post.url, self.config, self._limiter,
                                    self.breaker)
        except ValueError as exc:
            return str(exc)
        except (HTTPError, OSError) as exc:  # requests' exceptions are OSErrors
            return describe(exc)
        if self._stop.is_set():
            raise Stopped()
        atomic_write_bytes(self.images_dir / f"{post.id}.{ext}", data)
        return None

    def _work(self, todo, finished):
        """A worker thread: download posts from `todo` until None or a stop."""
        while True:
            post = todo.get()
            if post is None or self._stop.is_set():
                return
            try:
                finished.put((post, self.download_one(post), None))
            except Stopped:
                return
            except BaseException as exc:  # a bug, or a full disk: stop the run with it
                finished.put((post, None, exc))

    def run(self, posts, on_done):
        """Download every post, calling on_done(post, reason_or_None) in this thread as each
        finishes. At most 2 x workers posts are queued or in flight, so memory stays flat.
        Returns early, with self.breaker.tripped set, if the server looks down."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.images_dir.glob(".*.part"):
            stale.unlink()  # a killed run's unfinished download; it is fetched again
        todo, finished = queue.SimpleQueue(), queue.SimpleQueue()
        threads = [threading.Thread(target=self._work, args=(todo, finished), daemon=True,
                                    name=f"download-{i}") for i in range(self.workers)]
        for thread in threads:
            thread.start()

        def take():
            post, reason, exc = finished.get()
            if exc is not None:
                raise exc
            on_done(post, reason)

        in_flight = 0
        try:
            for post in posts:
                while in_flight >= 2 * self.workers or not finished.empty():
                    take()
                    in_flight -= 1
                if self.breaker.tripped:
                    break
                todo.put(post)
                in_flight += 1
            while in_flight and not self.breaker.tripped:
                take()
                in_flight -= 1
            while not finished.empty():  # tripped: what has finished, not what is in flight
                take()
        finally:
            self.stop()
            for _ in threads:
                todo.put(None)
