"""The one writer of the tagging side: whole files under their names, backups before any
replacement, and a killed run's temporaries (only those) removed by the next run."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tagger.core.locks import Busy
from tagger.infer.writer import (BACKUPS, JOURNAL, NotReplaced, OutputWriter, locked_writer,
                                 read_journal)

ROOT = Path(__file__).resolve().parents[1]


def test_writes_whole_files_and_refuses_to_replace_without_permission(tmp_path):
    with locked_writer([tmp_path]) as writer:
        writer.write_bytes(tmp_path / "a.txt", b"new\n")
        (tmp_path / "mine.txt").write_bytes(b"the user's")
        with pytest.raises(NotReplaced, match="--overwrite replaces it"):
            writer.write_bytes(tmp_path / "mine.txt", b"x")
        (tmp_path / "dir.txt").mkdir()
        with pytest.raises(IsADirectoryError):
            writer.write_bytes(tmp_path / "dir.txt", b"x", replace=True)
    assert (tmp_path / "a.txt").read_bytes() == b"new\n"
    assert (tmp_path / "mine.txt").read_bytes() == b"the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "dir.txt", "mine.txt"]


def test_a_replaced_file_is_backed_up_and_no_backup_is_overwritten(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"first")
    writer = OutputWriter({tmp_path: tmp_path / JOURNAL}, stamp="20260101-000000")
    writer.write_bytes(tmp_path / "a.txt", b"second", replace=True)
    writer.write_bytes(tmp_path / "a.txt", b"third", replace=True)
    backups = tmp_path / BACKUPS / "20260101-000000"
    assert (backups / "a.txt").read_bytes() == b"first"
    assert (backups / "a.txt.1").read_bytes() == b"second"
    assert (tmp_path / "a.txt").read_bytes() == b"third"


def test_the_next_run_removes_only_the_temporaries_its_journal_lists(tmp_path):
    (tmp_path / ".a.txt.1-2.part").write_bytes(b"looks temporary, is the user's")
    (tmp_path / ".lock").write_bytes(b"another tool's lock")
    code = ("import os, sys; from pathlib import Path; from tagger.infer.writer import "
            "OutputWriter, JOURNAL; d = Path(sys.argv[1]); w = OutputWriter({d: d / JOURNAL}); "
            "t = w.temporary(d / 'a\\nb\\udce9.txt'); t.write_bytes(b'half'); os._exit(9)")  # kill -9
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=False)
    left = [Path(n) for n in read_journal(tmp_path / JOURNAL)]
    assert len(left) == 1 and left[0].exists()
    with locked_writer([tmp_path]):
        assert not left[0].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.txt.1-2.part", ".lock"]


def test_a_journal_naming_a_file_it_did_not_make_removes_nothing(tmp_path):
    (tmp_path / "keep.png").write_bytes(b"x")
    (tmp_path / JOURNAL).write_text(f'"{tmp_path / "keep.png"}"\n"/etc/passwd"\n')
    with locked_writer([tmp_path]):
        pass
    assert (tmp_path / "keep.png").exists() and not (tmp_path / JOURNAL).exists()


def test_a_second_run_on_the_same_folder_is_refused_with_the_first_ones_pid(tmp_path):
    with locked_writer([tmp_path]):
        with pytest.raises(Busy, match=f"pid {os.getpid()}"):
            with locked_writer([tmp_path]):
                pass
    with locked_writer([], files=[tmp_path / "s.csv"]):
        with pytest.raises(Busy, match="s.csv"):
            with locked_writer([], files=[tmp_path / "s.csv"]):
                pass


def test_many_folders_can_be_locked_at_once(tmp_path):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # a small default limit
    try:
        folders = [tmp_path / f"{i}_repeat" for i in range(400)]
        with locked_writer(folders) as writer:
            writer.write_bytes(folders[-1] / "a.txt", b"x")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert (folders[-1] / "a.txt").read_bytes() == b"x" and not folders[0].exists()
