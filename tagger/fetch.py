"""Concurrent, polite, resumable thumbnail downloads over pooled keep-alive connections."""
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from .fsutil import atomic_write_bytes
from .images import sniff_extension, truncated

USER_AGENT = "anime-tagger/0.1 (Safebooru thumbnail downloader; urllib3)"
ERROR_HEADER = ("row", "id", "url", "reason")
RETRY_STATUS = (429, 500, 502, 503, 504)


class _CappedRetry(Retry):
    """urllib3 Retry whose wait for a server's Retry-After is capped, so one reply cannot stall a worker."""

    max_retry_after = 60.0

    def parse_retry_after(self, retry_after):
        return min(super().parse_retry_after(retry_after), self.max_retry_after)


@dataclass(frozen=True)
class FetchConfig:
    """How to talk to the server."""
    retries: int = 4
    backoff: float = 0.5  # seconds; doubles with each retry
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_bytes: int = 2 * 1024 * 1024
    max_rps: float = 0.0  # requests per second over all workers; 0 = no cap
    user_agent: str = USER_AGENT


def make_pool(config, maxsize):
    """A thread-safe urllib3 PoolManager: keep-alive connections (up to `maxsize` per host),
    retries with exponential backoff on connection errors, timeouts, 429 and 5xx (honouring
    Retry-After), redirects followed. requests would add ~0.35 ms of CPU per thumbnail
    on top of this (its session, hooks and proxy lookup from the environment), a third
    of download.py's time at hundreds of thumbnails a second."""
    retry = _CappedRetry(
        total=config.retries, connect=config.retries, read=config.retries,
        status=config.retries, backoff_factor=config.backoff, backoff_max=30,
        status_forcelist=RETRY_STATUS, allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True, raise_on_status=False)
    # each retry is logged by urllib3 at WARNING, which would print over the progress bar;
    # what finally failed goes to download_errors.csv
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    return urllib3.PoolManager(
        num_pools=16, maxsize=maxsize, retries=retry,
        timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
        headers={"User-Agent": config.user_agent, "Accept": "image/*"})


class RateLimiter:
    """Spaces requests at least 1/rate seconds apart across threads (rate 0 = no limit)."""

    def __init__(self, rate):
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self):
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        time.sleep(max(0.0, slot - now))


def check_url(url):
    """Return a reason if `url` is not an http(s) URL we may fetch, else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"unsupported URL scheme {parts.scheme or '(none)'!r}; only http and https"
    if not parts.netloc:
        return "URL has no host"
    return None


def _read_body(response, max_bytes):
    """Read a body, refusing bodies larger than max_bytes; a body shorter than its
    Content-Length raises ProtocolError (urllib3 enforces the length)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ValueError(f"body of {int(declared):,} bytes is over --max-bytes {max_bytes:,}")
    data = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"body is over --max-bytes {max_bytes:,}")
    return data


_BODY_ERRORS = (ProtocolError, ReadTimeoutError)


def describe(exc):
    """A one-line reason for a failed request: the cause rather than urllib3's wrapper."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return f"{type(exc).__name__}: {exc}"


def fetch_image(pool, url, config, limiter):
    """GET one image; return (bytes, extension). Raises ValueError or urllib3 errors."""
    for attempt in range(config.retries + 1):
        limiter.wait()
        # urllib3's Retry covers everything up to the response headers (connect errors,
        # timeouts, 429/5xx with Retry-After); a body cut off or stalled midway is retried
        # here with the same exponential backoff.
        response = pool.request("GET", url, preload_content=False)
        try:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status} {response.reason}")
            content_type = response.headers.get("Content-Type", "?")
            try:
                data = _read_body(response, config.max_bytes)
                break
            except _BODY_ERRORS:
                if attempt == config.retries:
                    raise
        finally:
            response.release_conn()
        time.sleep(min(30.0, config.backoff * 2 ** attempt))
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
    found = {}
    if os.path.isdir(images_dir):
        for entry in os.scandir(images_dir):
            stem, dot, ext = entry.name.partition(".")
            if dot and stem.isdigit() and not entry.name.startswith(".") and entry.is_file():
                found[int(stem)] = entry.name
    return found


class Downloader:
    """Downloads posts into a folder with a pool of threads sharing one connection pool."""

    def __init__(self, images_dir, config, workers):
        self.images_dir = Path(images_dir)
        self.config = config
        self.workers = workers
        self._limiter = RateLimiter(config.max_rps)
        self._pool = make_pool(config, maxsize=workers)

    def download_one(self, post):
        """Fetch one post's thumbnail to <id>.<ext>; return None or the failure reason."""
        try:
            data, ext = fetch_image(self._pool, post.url, self.config, self._limiter)
        except ValueError as exc:
            return str(exc)
        except (HTTPError, OSError) as exc:
            return describe(exc)
        atomic_write_bytes(self.images_dir / f"{post.id}.{ext}", data)
        return None

    def run(self, posts, on_done):
        """Download every post, calling on_done(post, reason_or_None) in this thread as each
        finishes. At most 2 x workers posts are in flight, so memory stays flat."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.images_dir.glob(".*.part"):
            stale.unlink()  # a killed run's unfinished download; it is fetched again
        finished = queue.SimpleQueue()  # (post, reason, unexpected exception)

        def task(post):
            try:
                finished.put((post, self.download_one(post), None))
            except BaseException as exc:  # a bug, or a full disk: stop the run with it
                finished.put((post, None, exc))

        def take():
            post, reason, exc = finished.get()
            if exc is not None:
                raise exc
            on_done(post, reason)

        in_flight = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="download") as pool:
            try:
                for post in posts:
                    while in_flight >= 2 * self.workers or not finished.empty():
                        take()
                        in_flight -= 1
                    pool.submit(task, post)
                    in_flight += 1
                while in_flight:
                    take()
                    in_flight -= 1
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
