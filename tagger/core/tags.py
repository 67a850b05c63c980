"""The tag dictionary (`dic.txt`) and safe, reversible folder names for tags."""
import hashlib
import re
from pathlib import Path
from urllib.parse import unquote

from .files import atomic_path

# Lower-case letters, digits and a few punctuation marks are kept as they are; every other
# character (upper case too, so case-insensitive file systems cannot merge two tags) is
# percent-encoded, '%' included, which makes the mapping injective and reversible.
_KEEP = re.compile(r"[a-z0-9_\-()!+,;=@\[\]{}~']")
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                     *(f"lpt{i}" for i in range(10))}
_MAX_NAME = 200  # bytes; file systems allow 255, leave room for temporary suffixes


def tag_to_folder(tag):
    """Return a folder name for `tag` that is valid on Linux, macOS and Windows."""
    if not tag:
        raise ValueError("empty tag")
    name = "".join(c if _KEEP.fullmatch(c) else _percent(c) for c in tag)
    if name in _WINDOWS_RESERVED:  # Windows refuses these names, with any extension
        name = _percent(name[0]) + name[1:]
    if len(name.encode()) > _MAX_NAME:
        digest = hashlib.sha1(tag.encode()).hexdigest()[:16]
        name = f"{name[:_MAX_NAME - 18]}%~{digest}"  # '%~' never comes out of _percent
    return name


def folder_to_tag(name):
    """Invert `tag_to_folder` (names shortened with a hash need the dictionary instead)."""
    if "%~" in name:
        raise ValueError(f"folder {name!r} is a shortened name; look it up in the dictionary")
    return unquote(name, errors="strict")


def _percent(char):
    return "".join(f"%{b:02X}" for b in char.encode())


def load_dic(path):
    """Read a dictionary file: one tag per line, blank lines and duplicates ignored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no tag dictionary. Run set_dic.py first, or pass --dic dic.txt to use "
            f"the original project's 38 tags.")
    with open(path, encoding="utf-8") as f:
        tags = list(dict.fromkeys(line.strip() for line in f if line.strip()))
    if not tags:
        raise ValueError(f"{path}: the dictionary is empty")
    return tags


def save_dic(path, tags):
    """Write `tags` one per line, atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text("".join(f"{t}\n" for t in tags), encoding="utf-8")


def folder_map(tags):
    """Map folder name -> tag for every tag of a dictionary."""
    return {tag_to_folder(t): t for t in tags}
