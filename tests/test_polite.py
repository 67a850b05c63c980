"""download.py is polite by default (8 connections, 10 requests a second) and lifts both for a
server on this machine; explicit flags win either way."""
import json

import pytest

import download
from conftest import write_csv
from tagger.data.fetch import default_pace, is_loopback


def test_loopback_addresses_are_recognised():
    for url in ("http://127.0.0.1:8000/a.jpg", "http://127.4.5.6/a", "http://[::1]:80/a",
                "http://localhost/a", "https://LOCALHOST./a"):
        assert is_loopback(url), url
    for url in ("https://safebooru.org/a.jpg", "http://127.0.0.1.example.com/a",
                "http://10.0.0.1/a", "http://[::2]/a", "//safebooru.org/a"):
        assert not is_loopback(url), url


def test_pace_is_polite_unless_every_url_is_on_this_machine():
    local, public = "http://127.0.0.1:9/1.jpg", "https://safebooru.org/thumbnails/1.jpg"
    assert default_pace([local, local]) == (32, 0.0)
    assert default_pace([public]) == (8, 10.0)
    assert default_pace([local, public]) == (8, 10.0)
    assert default_pace([]) == (8, 10.0)


def pace(data_dir, host, *flags):
    write_csv(data_dir / "all_data.csv", [{"id": i, "url": f"{host}/{i}.jpg", "tags": "a"}
                                          for i in range(1, 4)])
    args = download.parse_args(["--data-dir", str(data_dir), *flags])
    download.choose_pace(args)
    return args.connections, args.max_rps


def test_a_public_booru_gets_the_polite_defaults_and_flags_win(data_dir, capsys):
    assert pace(data_dir, "https://safebooru.org/thumbnails") == (8, 10.0)
    assert "8 connections, at most 10 requests a second" in capsys.readouterr().out
    assert pace(data_dir, "https://safebooru.org/thumbnails", "--connections", "2") == (2, 10.0)
    assert pace(data_dir, "https://safebooru.org/thumbnails", "--max-rps", "0") == (8, 0.0)
    assert pace(data_dir, "http://127.0.0.1:9", "--max-rps", "3") == (32, 3.0)


def test_help_names_the_defaults(capsys):
    with pytest.raises(SystemExit):
        download.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 8, what a public server tolerates; 32 when the pictures are on this " \
           "machine: localhost, 127.0.0.0/8, ::1)" in text
    assert "(default: 10; none for this machine's addresses)" in text


def test_a_local_server_is_downloaded_from_at_full_speed(server, data_dir):
    rows = [{"id": i, "url": server.image(f"/{i}.jpg"), "tags": "a"} for i in range(1, 4)]
    write_csv(data_dir / "all_data.csv", rows)
    download.main(["--data-dir", str(data_dir)])
    recorded = json.loads((data_dir / "download_args.json").read_text())
    assert recorded["connections"] == 32 and recorded["max_rps"] == 0.0
