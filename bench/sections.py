"""Sections of bench/results.md that other benchmark commands own: written between markers
by one command, carried over unchanged when bench/run.py rewrites the rest."""
import re
from pathlib import Path


def _markers(title):
    key = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"<!-- section {key} -->", f"<!-- end {key} -->"


def replace_section(path, title, lines):
    """Write `## title` and `lines` into `path`, replacing that section if it is there."""
    start, end = _markers(title)
    block = "\n".join([start, f"## {title}", "", *lines, end])
    path = Path(path)
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    path.write_text(text)


def kept_sections(path):
    """Every marked section in `path`, as text to append to a rewritten file."""
    path = Path(path)
    if not path.exists():
        return ""
    found = re.findall(r"<!-- section [a-z0-9-]+ -->.*?<!-- end [a-z0-9-]+ -->", path.read_text(),
                       flags=re.S)
    return "".join("\n" + block + "\n" for block in found)
