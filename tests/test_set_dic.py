"""set_dic.py: streaming tag counts, thresholds, and never losing an existing dictionary."""
import pytest

import set_dic
from conftest import ROOT, read_csv, write_csv
from tagger.core.tags import load_dic

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


def test_max_tags_and_exclude(data_dir):
    write_csv(data_dir / "all_data.csv", ROWS)
    assert run(data_dir, "--max-tags", "2", "--exclude", "1girl") == ["smile", "hat"]


def test_the_38_most_frequent_tags_by_default(data_dir, capsys):
    rows = [{"id": i, "tags": " ".join(f"t{k}" for k in range(i % 50))} for i in range(1, 101)]
    write_csv(data_dir / "all_data.csv", rows)
    tags = run(data_dir)
    assert len(tags) == 38 and tags[:2] == ["t0", "t1"]
    assert "(top 38)" in capsys.readouterr().out


def test_old_spellings_work_with_a_note(data_dir, capsys):
    write_csv(data_dir / "all_data.csv", ROWS)
    assert run(data_dir, "--top", "2", "--out", str(data_dir / "mine.txt")) == ["1girl", "smile"]
    assert load_dic(data_dir / "mine.txt") == ["1girl", "smile"]
    assert not (data_dir / "dic.txt").exists()
    err = capsys.readouterr().err
    assert "--top is now --max-tags" in err and "--out is now --dic" in err
    with pytest.raises(SystemExit):  # still one rule or the other
        run(data_dir, "--top", "2", "--min-count", "3")


def test_counts_the_rows_download_py_fetched(data_dir, capsys):
    """set_dic.py reads download.py's recorded window, printing nothing extra; an explicit
    --limit wins, with one line saying how it differs."""
    write_csv(data_dir / "all_data.csv", ROWS)
    (data_dir / "download_args.json").write_text('{"limit": 3, "out": "images"}')
    run(data_dir, "--min-count", "0")
    out, err = capsys.readouterr()
    assert "over 3 rows" in out and err == ""
    assert set(load_dic(data_dir / "dic.txt")) == {"1girl", "smile", "long_hair", "hat"}
    run(data_dir, "--min-count", "0", "--limit", "0", "--dic", str(data_dir / "all.txt"))
    out, err = capsys.readouterr()
    assert "over 10 rows" in out
    assert err.count("\n") == 1 and "every row, where download.py fetched the first 3" in err


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
        run(data_dir, "--min-count", "120000")  # the original's, over the whole dump
    assert "lower --min-count" in capsys.readouterr().err
    assert not (data_dir / "dic.txt").exists()


def test_shipped_dictionary_is_the_original_38_tags():
    tags = load_dic(ROOT / "dic.txt")
    assert len(tags) == 38 and tags[0] == "1girl" and tags[-1] == "comic"
    assert {"translation_request", "looking_at_viewer", "multiple_girls"} <= set(tags)


def test_parallel_count_equals_one_sequential_pass(tmp_path):
    from tagger.data.counting import count_tags

    rows = [{"id": i, "tags": f"t{i % 7} t{i % 3} common" + (" t1" if i % 5 == 0 else "")}
            for i in range(1, 400)]
    rows[150] = {"id": 3, "tags": "dup_far_away"}          # duplicates an id many ranges back
    rows[151] = ["x", "1"]                                  # missing fields
    rows[200] = {"id": 999, "tags": ""}                     # no tags
    rows[250] = {"id": 251, "tags": "a,b \"quoted\""}       # quotes: the csv path
    path = write_csv(tmp_path / "all.csv", rows)
    with open(path, "a", encoding="utf-8") as f:
        f.write('\n1000,0,s,0,u,1,1,"u,broken\n1001,0,s,0,u,1,1,u,last\n')
    one = count_tags(path)
    for chunk in (50, 333, 4096):
        many = count_tags(path, workers=2, chunk_bytes=chunk)
        assert many[0] == one[0] and many[2] == one[2]
        assert [(b.row, b.reason) for b in many[1]] == [(b.row, b.reason) for b in one[1]]
    assert one[0]["dup_far_away"] == 0 and one[0]["common"] == 395  # 399 rows, 4 replaced
    assert [b.reason.split(" (")[0] for b in one[1]] == [
        "duplicate id", "missing fields", "no tags", "missing fields"]
