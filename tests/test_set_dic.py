"""set_dic.py: streaming tag counts, thresholds, and never losing an existing dictionary."""
import pytest

import set_dic
from conftest import ROOT, read_csv, write_csv
from tagger.tags import load_dic

ROWS = [{"id": i, "url": "http://x/a.jpg", "tags": tags} for i, tags in enumerate([
    "1girl smile long_hair", "1girl smile", "1girl hat", "1girl translation_request",
    "smile 1girl 1girl", "hat", "long_hair smile", "1girl", "smile", "solo"], 1)]


def run(data_dir, *flags):
    return set_dic.main(["--data-dir", str(data_dir), *flags])


def test_min_count_keeps_tags_above_it_most_frequent_first(data_dir):
    write_csv(data_dir / "all_data.csv", ROWS)
    tags = run(data_dir, "--min-count", "1")
    # 1girl 6 (a tag repeated in one row counts once), smile 5, hat 2, long_hair 2
    assert tags == ["1girl", "smile", "hat", "long_hair"]
    assert load_dic(data_dir / "dic.txt") == tags
    counts = read_csv(data_dir / "tag_counts.csv")
    assert [(r["tag"], int(r["count"])) for r in counts[:3]] == [("1girl", 6), ("smile", 5), ("hat", 2)]
    assert {r["tag"] for r in counts} >= {"solo", "translation_request"}


def test_top_and_exclude(data_dir):
    write_csv(data_dir / "all_data.csv", ROWS)
    assert run(data_dir, "--top", "2", "--exclude", "1girl") == ["smile", "hat"]


def test_bad_rows_are_counted_and_listed(data_dir, capsys):
    write_csv(data_dir / "all_data.csv", ROWS + [["x", "1"], {"id": 1, "tags": "dup"},
                                                 {"id": 99, "tags": ""}])
    run(data_dir, "--min-count", "1")
    reasons = [r["reason"] for r in read_csv(data_dir / "set_dic_errors.csv")]
    assert len(reasons) == 3 and "dup" not in load_dic(data_dir / "dic.txt")
    assert "skipped 3 bad rows" in capsys.readouterr().out


def test_existing_different_dictionary_is_kept_unless_overwrite(data_dir, capsys):
    write_csv(data_dir / "all_data.csv", ROWS)
    (data_dir / "dic.txt").write_text("my\nhand\nmade\n")
    with pytest.raises(SystemExit):
        run(data_dir, "--min-count", "1")
    assert "--overwrite" in capsys.readouterr().err
    assert (data_dir / "dic.txt").read_text() == "my\nhand\nmade\n"
    run(data_dir, "--min-count", "1", "--overwrite")
    assert load_dic(data_dir / "dic.txt")[0] == "1girl"
    assert (data_dir / "replaced" / "dic.txt").read_text() == "my\nhand\nmade\n"


def test_threshold_too_high_is_a_clear_error(data_dir, capsys):
    write_csv(data_dir / "all_data.csv", ROWS)
    with pytest.raises(SystemExit):
        run(data_dir)  # the default 120,000 is for the full two-million-row dump
    assert "lower --min-count" in capsys.readouterr().err
    assert not (data_dir / "dic.txt").exists()


def test_shipped_dictionary_is_the_original_38_tags():
    tags = load_dic(ROOT / "dic.txt")
    assert len(tags) == 38 and tags[0] == "1girl" and tags[-1] == "comic"
    assert {"translation_request", "looking_at_viewer", "multiple_girls"} <= set(tags)
