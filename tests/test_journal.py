"""Journals and plans (tagger/journal.py), and check.py finishing a plan a kill cut short."""
import filecmp
import os
import shutil

import pytest

import check
import deal
from conftest import image_bytes, make_downloaded
from tagger.core.journal import Journal, read_plan, write_plan


def test_a_journal_reads_back_what_was_appended_and_drops_a_torn_line(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    assert journal.records() == []
    journal.append({"a": 1})
    journal.append({"b": "é"})
    journal.close()
    with open(tmp_path / "j.jsonl", "a") as f:
        f.write('{"c": ')  # a kill in the middle of a write
    again = Journal(tmp_path / "j.jsonl")
    assert again.records() == [{"a": 1}, {"b": "é"}]
    again.append({"d": 4})  # continues on a line of its own
    assert again.records() == [{"a": 1}, {"b": "é"}, {"d": 4}]
    again.discard()
    assert not (tmp_path / "j.jsonl").exists()


def test_a_plan_is_whole_or_absent(tmp_path):
    assert read_plan(tmp_path / "p.json") is None
    write_plan(tmp_path / "p.json", {"moves": [["a/1.jpg", "quarantine/a/1.jpg"]]})
    assert read_plan(tmp_path / "p.json") == {"moves": [["a/1.jpg", "quarantine/a/1.jpg"]]}
    assert os.listdir(tmp_path) == ["p.json"]


def dealt(data_dir):
    """Twelve images in tags a (all) and b (even ids): 3 is a copy of 1, 4 is cut short."""
    posts = [(i, "a" + (" b" if i % 2 == 0 else ""), image_bytes((i * 20, 90, 200 - i * 10),
                                                                  (60, 60))) for i in range(1, 13)]
    posts[2] = (3, "a", posts[0][2])
    make_downloaded(data_dir, posts, ["a", "b"])
    deal.main(["--data-dir", str(data_dir), "--image-size", "32", "--workers", "1"])
    with open(data_dir / "resized" / "4.jpg", "r+b") as f:
        f.truncate(300)
    return data_dir


SET_APART = ("check_args.json", "deal_args.json")  # the folders' times and paths


def same_trees(a, b):
    """Same files, same bytes (but the records of when and where each was dealt)."""
    found = [str(p.relative_to(a)) for p in sorted(a.rglob("*")) if p.name not in SET_APART]
    assert found == [str(p.relative_to(b)) for p in sorted(b.rglob("*"))
                     if p.name not in SET_APART]
    for name in found:
        if (a / name).is_file():
            assert filecmp.cmp(a / name, b / name, shallow=False), name


@pytest.mark.parametrize("moves_before_the_kill", [0, 1, 2])
def test_check_finishes_the_plan_of_a_killed_run_exactly(tmp_path, monkeypatch, capsys,
                                                         moves_before_the_kill):
    flags = ["--workers", "1", "--max-per-tag", "5"]
    whole = dealt(tmp_path / "whole" / "data")
    check.main(["--data-dir", str(whole), *flags])
    killed = dealt(tmp_path / "killed" / "data")
    real_move, moved = shutil.move, []

    def move_then_die(src, dst):
        if len(moved) == moves_before_the_kill:
            raise KeyboardInterrupt  # stands for the kill: the plan is on disk, moves half done
        moved.append(dst)
        return real_move(src, dst)

    monkeypatch.setattr("tagger.data.check_plan.shutil.move", move_then_die)
    with pytest.raises(SystemExit):
        check.main(["--data-dir", str(killed), *flags])
    assert (killed / ".check_plan.json").is_file()
    monkeypatch.undo()
    capsys.readouterr()
    check.main(["--data-dir", str(killed), *flags])
    assert "finishing the check a stopped run had begun" in capsys.readouterr().out
    same_trees(whole, killed)


def test_check_decodes_again_only_what_a_killed_run_had_not(tmp_path, monkeypatch, capsys):
    data = dealt(tmp_path / "data")
    from tagger.data import checking

    real, seen = checking.inspect, []

    def inspect_then_die(args):
        if len(seen) == 7:
            raise KeyboardInterrupt
        seen.append(args)
        return real(args)

    monkeypatch.setattr(checking, "inspect", inspect_then_die)
    with pytest.raises(SystemExit):
        check.main(["--data-dir", str(data), "--workers", "1"])
    monkeypatch.undo()
    capsys.readouterr()
    decoded = []
    monkeypatch.setattr(checking, "inspect", lambda args: decoded.append(args) or real(args))
    check.main(["--data-dir", str(data), "--workers", "1"])
    assert "reused 7 pictures a stopped run had decoded" in capsys.readouterr().out
    assert len(decoded) == 12 - 7  # one file per id
    assert not (data / ".check_inspected.jsonl").exists()


def test_restore_after_a_killed_check_undoes_all_it_had_begun(tmp_path, monkeypatch, capsys):
    pristine = dealt(tmp_path / "pristine" / "data")
    data = dealt(tmp_path / "killed" / "data")
    real_move, moved = shutil.move, []

    def move_then_die(src, dst):
        if len(moved) == 1:
            raise KeyboardInterrupt  # the plan is on disk, one move made
        moved.append(dst)
        return real_move(src, dst)

    monkeypatch.setattr("tagger.data.check_plan.shutil.move", move_then_die)
    with pytest.raises(SystemExit):
        check.main(["--data-dir", str(data), "--workers", "1", "--max-per-tag", "5"])
    monkeypatch.undo()
    check.main(["--data-dir", str(data), "--restore"])
    assert not (data / ".check_plan.json").exists()  # not carried out later, over the restore
    entries = sorted(str(p.relative_to(data / "anime_images"))
                     for p in (data / "anime_images").rglob("*.jpg"))
    assert entries == sorted(str(p.relative_to(pristine / "anime_images"))
                             for p in (pristine / "anime_images").rglob("*.jpg"))
