"""The circuit breaker, and download.py stopping early against a server that is down."""
import os

import pytest

import download
from conftest import read_csv, write_csv
from tagger.data.breaker import CircuitBreaker


def test_trips_only_on_a_run_of_the_same_failure_with_no_success():
    breaker = CircuitBreaker(3)
    assert not breaker.failed("no answer", "timeout")
    assert not breaker.failed("no answer", "timeout")
    breaker.succeeded()  # the server answered someone: start counting again
    assert not breaker.failed("no answer", "timeout")
    assert not breaker.failed("HTTP 503", "HTTP 503")  # another way of failing: a new run
    assert not breaker.failed("HTTP 503", "HTTP 503")
    assert breaker.failed("HTTP 503", "HTTP 503")
    assert "the last 3 requests all failed (HTTP 503" in breaker.tripped
    assert breaker.failed("no answer", "timeout")  # tripped stays tripped
    never = CircuitBreaker(0)
    assert not any(never.failed("no answer", "timeout") for _ in range(100))


def test_download_stops_early_when_the_server_never_answers_and_a_rerun_retries(
        silent_server, server, data_dir, capsys):
    rows = [{"id": i, "url": f"{silent_server.url}/{i}.jpg", "tags": "a"} for i in range(1, 41)]
    write_csv(data_dir / "all_data.csv", rows)
    with pytest.raises(SystemExit) as stop:
        download.main(["--data-dir", str(data_dir), "--timeout", "1", "--retries", "2",
                       "--workers", "4", "--stop-after", "8"])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "stopped early: the last 8 requests all failed (no answer" in err
    assert "run the same command to continue" in err
    # 40 rows x 3 attempts without the breaker; it stops after 8 with 4 more in flight
    assert len(silent_server.connections) <= 12
    failed = read_csv(data_dir / "download_errors.csv")
    assert failed and all(r["reason"].startswith("server down: ReadTimeoutError") for r in failed)
    # the server is back (here: the same posts served by a working one)
    write_csv(data_dir / "all_data.csv",
              [dict(r, url=server.image(f"/{r['id']}.jpg")) for r in rows])
    counts = download.main(["--data-dir", str(data_dir)])  # no --retry-failed needed
    assert counts["downloaded"] == 40 and counts["failed before"] == 0
    assert len(os.listdir(data_dir / "images")) == 40
    assert read_csv(data_dir / "download_errors.csv") == []


def test_a_flaky_server_that_answers_some_requests_does_not_trip(server, data_dir):
    from conftest import Reply, image_bytes

    jpg = image_bytes()
    rows = [{"id": i, "url": server.route(f"/{i}.jpg", Reply(503), Reply(200, jpg)), "tags": "a"}
            for i in range(1, 31)]
    write_csv(data_dir / "all_data.csv", rows)
    counts = download.main(["--data-dir", str(data_dir), "--workers", "4", "--retries", "2",
                            "--stop-after", "5"])
    assert counts["downloaded"] == 30  # every other attempt succeeds: never 5 failures in a row
