"""Every numeric flag of every script is range-checked: exit 2, nothing written."""
import importlib
import re

import pytest

from conftest import image_bytes, make_downloaded
from tagger.core import cli

BAD_VALUES = [
    ("download", ["--limit", "-1"]), ("download", ["--workers", "0"]),
    ("download", ["--max-rps", "-1"]), ("download", ["--retries", "-1"]),
    ("download", ["--timeout", "0"]), ("download", ["--max-bytes", "0"]),
    ("download", ["--stop-after", "-1"]),
    ("set_dic", ["--top", "-5"]), ("set_dic", ["--top", "0"]), ("set_dic", ["--min-count", "-1"]),
    ("set_dic", ["--limit", "-1"]), ("set_dic", ["--workers", "0"]),
    ("deal", ["--image-size", "-5"]), ("deal", ["--image-size", "0"]), ("deal", ["--limit", "-1"]),
    ("deal", ["--workers", "-2"]), ("deal", ["--image-size", "abc"]),
    ("check", ["--max-per-tag", "-1"]), ("check", ["--image-size", "0"]),
    ("check", ["--seed", "-1"]), ("check", ["--workers", "0"]),
    ("train", ["--epochs", "0"]), ("train", ["--batch-size", "0"]), ("train", ["--lr", "0"]),
    ("train", ["--lr", "nan"]), ("train", ["--image-size", "-1"]), ("train", ["--patience", "-1"]),
    ("train", ["--val-fraction", "1"]), ("train", ["--test-fraction", "-0.1"]),
    ("train", ["--val-fraction", "0.6", "--test-fraction", "0.4"]),
    ("train", ["--label-smoothing", "1"]), ("train", ["--shift", "0.9"]),
    ("train", ["--warmup-epochs", "-1"]), ("train", ["--cache-mb", "-1"]),
    ("test", ["--max-tags", "0"]), ("test", ["--limit", "-1"]), ("test", ["--min-common", "-1"]),
    ("test", ["--credit", "1.5"]), ("test", ["--batch-size", "0"]),
    ("draw", ["--max-tags", "-1"]), ("draw", ["--threshold", "1.01"]), ("draw", ["--threshold", "-0.1"]),
    ("draw", ["--batch-size", "0"]), ("draw", ["--max-side", "0"]), ("draw", ["--workers", "-1"]),
    ("tag", ["--threshold", "1.01"]), ("tag", ["--max-tags", "-1"]), ("tag", ["--workers", "-1"]),
    ("export", ["--threshold", "1"]),
    ("demo", ["--posts", "0"]), ("demo", ["--epochs", "0"]), ("demo", ["--image-size", "-1"]),
    ("tagger.demo.synth", ["--n", "0"]), ("tagger.demo.synth", ["--workers", "0"]),
    ("bench.run", ["--repeats", "-1"]),
]
FIRST_ARGS = {"draw": ["pic.png"], "tag": ["pic.png"], "export": ["--run", "run", "--format", "wd14"], "demo": ["--out", "demo"], "tagger.demo.synth": ["synth"],
              "bench.run": ["--quick", "--work", "work"]}


def snapshot(folder):
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.mark.parametrize("script,flags", BAD_VALUES, ids=lambda v: " ".join(v) if
                         isinstance(v, list) else v)
def test_bad_numeric_flag_exits_2_and_writes_nothing(script, flags, tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"  # a complete data folder: only the bad flag can stop the stage
    make_downloaded(data, [(1, "smile hat", image_bytes()), (2, "smile", image_bytes((9, 9, 9)))],
                    ["smile", "hat"])
    (data / "all_data.csv").write_text((data / "all_data.csv").read_text().replace(
        "http://x/", "http://127.0.0.1:9/"))  # a closed port: refused at once
    (tmp_path / "pic.png").write_bytes(image_bytes(fmt="PNG"))
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    argv = FIRST_ARGS.get(script, ["--data-dir", "data"])
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(script).main([*argv, *flags])
    assert exc.value.code == 2
    assert flags[0] in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_ranged_types_name_the_range():
    assert cli.fraction("0") == 0.0 and cli.probability("1") == 1.0
    assert cli.positive_int("3") == 3 and cli.non_negative_int("0") == 0
    for check, text, message in ((cli.fraction, "1", "[0, 1)"), (cli.probability, "2", "[0, 1]"),
                                 (cli.positive_float, "-1", "positive"),
                                 (cli.positive_int, "1.5", "positive integer")):
        with pytest.raises(cli.argparse.ArgumentTypeError, match=re.escape(message)):
            check(text)
