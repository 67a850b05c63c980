"""The server's own capacity: many threads of plain http.client doing nothing but fetching."""
import http.client
import threading
import time
from urllib.parse import urlsplit


def fetch_all(urls, threads):
    """GET every URL over `threads` keep-alive connections, reading each body; discard it."""
    parts = urlsplit(urls[0])
    lock, position, errors = threading.Lock(), [0], []

    def worker():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while True:
            with lock:
                k = position[0]
                position[0] += 1
            if k >= len(urls):
                break
            conn.request("GET", urlsplit(urls[k]).path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"items": len(urls), "fetch_seconds": time.perf_counter() - start,
            "errors": len(errors)}


def fetch_csv(csv_path, threads):
    """fetch_all over the preview_url column of a CSV."""
    import csv

    with open(csv_path, newline="", encoding="utf-8") as f:
        urls = [row["preview_url"] for row in csv.DictReader(f)]
    return fetch_all(urls, threads)
