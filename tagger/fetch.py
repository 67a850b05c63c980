"""Concurrent, polite, resumable thumbnail downloads over pooled HTTP sessions."""
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .fsutil import atomic_write_bytes
from .images import load_rgb, sniff_extension

USER_AGENT = "anime-tagger/0.1 (Safebooru thumbnail downloader; python-requests)"
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


def make_session(config, pool_size):
    """A requests Session with connection reuse and urllib3 retries with backoff."""
    retry = _CappedRetry(
        total=config.retries, connect=config.retries, read=config.retries,
        status=config.retries, backoff_factor=config.backoff, backoff_max=30,
        status_forcelist=RETRY_STATUS, allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True, raise_on_status=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = config.user_agent
    return session


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
    """Read a streamed body, refusing bodies larger than max_bytes."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ValueError(f"body of {int(declared):,} bytes is over --max-bytes {max_bytes:,}")
    chunks, total = [], 0
    for chunk in response.iter_content(64 * 1024):
        total += len(chunk)
        if total > max_bytes:
            raise ValueError(f"body is over --max-bytes {max_bytes:,}")
        chunks.append(chunk)
    return b"".join(chunks)


_BODY_ERRORS = (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError)


def fetch_image(session, url, config, limiter):
    """GET one image; return (bytes, extension). Raises ValueError or requests errors."""
    for attempt in range(config.retries + 1):
        limiter.wait()
        # urllib3's Retry covers everything up to the response headers (connect errors,
        # timeouts, 429/5xx with Retry-After); a body cut off or stalled midway is retried
        # here with the same exponential backoff.
        with session.get(url, stream=True,
                         timeout=(config.connect_timeout, config.read_timeout)) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code} {response.reason}")
            content_type = response.headers.get("Content-Type", "?")
            try:
                data = _read_body(response, config.max_bytes)
                break
            except _BODY_ERRORS:
                if attempt == config.retries:
                    raise
        time.sleep(min(30.0, config.backoff * 2 ** attempt))
    if not data:
        raise ValueError("empty body")
    ext = sniff_extension(data)
    if ext is None:
        raise ValueError(f"not an image ({content_type}, {len(data):,} bytes)")
    try:
        load_rgb(data)
    except Exception as exc:
        raise ValueError(f"broken image: {exc}") from None
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
    """Downloads posts into a folder with a pool of threads, one HTTP session per thread."""

    def __init__(self, images_dir, config, workers):
        self.images_dir = Path(images_dir)
        self.config = config
        self.workers = workers
        self._limiter = RateLimiter(config.max_rps)
        self._local = threading.local()

    def _session(self):
        if not hasattr(self._local, "session"):
            self._local.session = make_session(self.config, pool_size=2)
        return self._local.session

    def download_one(self, post):
        """Fetch one post's thumbnail to <id>.<ext>; return None or the failure reason."""
        try:
            data, ext = fetch_image(self._session(), post.url, self.config, self._limiter)
        except ValueError as exc:
            return str(exc)
        except requests.RequestException as exc:
            return f"{type(exc).__name__}: {exc}"
        atomic_write_bytes(self.images_dir / f"{post.id}.{ext}", data)
        return None

    def run(self, posts, on_done):
        """Download every post, calling on_done(post, reason_or_None) as each finishes."""
        self.images_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.images_dir.glob(".*.part"):
            stale.unlink()  # a killed run's unfinished download; it is fetched again
        with ThreadPoolExecutor(self.workers, thread_name_prefix="download") as pool:
            pending = {}
            for post in posts:
                if len(pending) >= self.workers * 4:
                    self._drain(pending, on_done, FIRST_COMPLETED)
                pending[pool.submit(self.download_one, post)] = post
            self._drain(pending, on_done, None)

    @staticmethod
    def _drain(pending, on_done, return_when):
        done, _ = wait(pending, return_when=return_when or "ALL_COMPLETED")
        for future in done:
            on_done(pending.pop(future), future.result())
