"""tag.py's --scores files: only its own are continued or repaired; names round-trip."""
import os

import pytest

from tagger.infer.scores import ScoresFile, read_scores
from tagger.infer.writer import locked_writer

STRANGE = ["plain.png", "a,b.png", 'say "hi".png', "line\nbreak.png", "carriage\rreturn.png",
           os.fsdecode(b"latin-\xe9.png"), "crlf\r\n.png"]


def write(path, names, tags=("a", "b"), state=None, overwrite=False):
    with locked_writer([], files=[path]) as writer:
        scores = ScoresFile(path, list(tags), writer, state, overwrite)
        for name in names:
            scores.add(name, [0.25, 0.5])
        scores.close()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_every_picture_name_round_trips(tmp_path, suffix):
    path = tmp_path / f"s{suffix}"
    write(path, STRANGE)
    state = read_scores(path)
    assert state.done == set(STRANGE) and state.tags == ["a", "b"]
    write(path, STRANGE + ["new.png"], state=state)  # continued: each picture once
    assert read_scores(path).done == set(STRANGE + ["new.png"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no lock or journal left


@pytest.mark.parametrize("name,text", [
    ("c.jsonl", b'{"name": "my settings"}\n'), ("n.csv", b"id,name\n1,x\n2,y"),
    ("e.jsonl", b'{"image": "x"}\n'), ("h.csv", b"image,a,b\nx.png,0.1,hello\n"),
    ("t.csv", b"a torn line of the user's"), ("bin.jsonl", b"\xff\xfe\x00\x01")])
def test_a_file_that_is_not_a_scores_file_is_refused_before_any_write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text)
    with pytest.raises(ValueError, match="not a scores file of tag.py"):
        read_scores(path)
    assert path.read_bytes() == text


def test_a_torn_last_row_is_dropped_only_in_a_file_of_ours(tmp_path):
    path = tmp_path / "s.csv"
    write(path, ["x.png"])
    with open(path, "ab") as f:
        f.write(b'"torn\nna')  # a kill in the middle of a quoted name holding a line break
    state = read_scores(path)
    assert state.done == {"x.png"} and state.complete < state.size
    write(path, ["y.png"], state=state)
    assert read_scores(path).done == {"x.png", "y.png"}
    assert b"torn" not in path.read_bytes()


def test_other_tags_are_refused_and_overwrite_keeps_a_backup(tmp_path):
    path = tmp_path / "s.jsonl"
    write(path, ["x.png"])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="other tags"):
        write(path, ["y.png"], tags=("a", "c"), state=read_scores(path))
    assert path.read_bytes() == before
    write(path, ["y.png"], tags=("a", "c"), state=read_scores(path), overwrite=True)
    assert read_scores(path).done == {"y.png"}
    assert [p.read_bytes() for p in (tmp_path / ".tagger-backup").rglob("s.jsonl")] == [before]


def test_a_json_name_is_refused_for_what_is_written_a_row_at_a_time(tmp_path):
    path = tmp_path / "scores.json"
    path.write_bytes(b'{"my": "settings"}')
    with pytest.raises(ValueError, match=r"name it \.jsonl"):
        read_scores(path)
    assert path.read_bytes() == b'{"my": "settings"}'
