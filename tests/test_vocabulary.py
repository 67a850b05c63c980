"""One vocabulary of flags: docs/flags.md's table, checked against every script's --help,
and the old spellings that keep working for one release with a one-line note."""
import re

import pytest

from conftest import ROOT

SCRIPTS = ("download", "set_dic", "deal", "check", "train", "test", "draw", "tag", "export",
           "serve")


def offered(script, capsys):
    """The long flags a script's --help lists."""
    module = __import__(script)
    with pytest.raises(SystemExit):
        module.parse_args(["--help"])
    flags = set()
    for line in capsys.readouterr().out.splitlines():
        if re.match(r"  +-", line):  # an option's line: its spellings, then its help
            flags.update(re.findall(r"--[a-z][\w-]*", re.split(r"\s{2,}", line.strip())[0]))
    return flags


def table():
    """{flag: (meaning, scripts or None for 'every script', all: whether only those)}."""
    rows = {}
    text = (ROOT / "docs" / "flags.md").read_text()
    body = text.split("## Old spellings")[0]
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`--"):
            continue
        flag = cells[0].strip("`").split()[0]
        named = cells[2]
        if named.startswith("every"):
            rows[flag] = (cells[1], None if named == "every script" else (), named == "every script")
        else:
            rows[flag] = (cells[1], tuple(s.strip() for s in named.split(",")), True)
    return rows


def test_the_table_is_read():
    rows = table()
    assert {"--run", "--max-tags", "--quiet", "--verbose", "--threshold"} <= set(rows)


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_flag_of_the_table_is_where_it_says_and_nowhere_else(script, capsys):
    flags = offered(script, capsys)
    for flag, (meaning, scripts, exact) in table().items():
        if scripts is None:
            assert flag in flags, f"{script}.py lacks {flag} ({meaning})"
        elif exact:
            assert (flag in flags) == (script in scripts), (
                f"{script}.py {'lacks' if script in scripts else 'has'} {flag}, which "
                f"docs/flags.md gives to {', '.join(scripts)} ({meaning})")


OLD = [("export", ["runs/x", "--format", "onnx"], "export.py RUN", {"run": "runs/x"}),
       ("export", ["--run", "r", "--format", "wd14", "--thresholds", "tuned"], "--thresholds",
        {"tuned": True}),
       ("export", ["--run", "r", "--format", "wd14", "--tool-threshold", "0.4"],
        "--tool-threshold", {"threshold": 0.4}),
       ("test", ["--top-k", "3"], "--top-k", {"max_tags": 3}),
       ("draw", ["p.png", "--top-k", "3"], "--top-k", {"max_tags": 3, "threshold": 0.0}),
       ("tag", ["p.png", "--top-tags", "3"], "--top-tags", {"table_rows": 3}),
       ("tag", ["p.png", "--model", "m.onnx"], "--model", {"run": "m.onnx"}),
       ("test", ["--model", "m.onnx"], "--model", {"run": "m.onnx"})]


@pytest.mark.parametrize("script, argv, old, expected", OLD)
def test_old_spellings_work_with_a_one_line_note(script, argv, old, expected, capsys):
    from tagger.core import cli

    cli._NOTED.clear()
    args = vars(__import__(script).parse_args(argv))
    for name, value in expected.items():
        assert str(args[name]) == str(value)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"note: {old}") and "next release" in err


@pytest.mark.parametrize("script, argv", [("tag", ["p.png", "--top", "3"]),
                                          ("draw", ["p.png", "--thresh", "0.3"]),
                                          ("set_dic", ["--max", "3"])])
def test_a_prefix_never_stands_for_a_flag(script, argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        __import__(script).parse_args(argv)
    assert stopped.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("script, first", [("download", []), ("train", []), ("tag", ["p.png"]),
                                           ("export", ["--format", "onnx"]), ("serve", ["--run", "r"])])
def test_quiet_and_verbose_are_one_or_the_other(script, first, capsys):
    with pytest.raises(SystemExit) as stopped:
        __import__(script).parse_args([*first, "--quiet", "--verbose"])
    assert stopped.value.code == 2 and "not allowed with" in capsys.readouterr().err
