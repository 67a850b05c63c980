"""Pictures as a user gives them: finding them in files and folders, and naming each one's
outputs (beside it, or mirrored under an output folder) so that no two outputs meet."""
import collections
import os
from pathlib import Path

def _pillow_suffixes():
    """Every suffix of a format Pillow can open and decode (.avif and .jfif included, where
    it can); not its stubs (HDF5, GRIB, WMF: they need a handler), nor MPEG (video)."""
    from PIL import Image, ImageFile

    Image.init()
    opens = {fmt for fmt, (factory, _) in Image.OPEN.items()
             if not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))}
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items()
                     if fmt in opens and fmt != "MPEG")


IMAGE_SUFFIXES = _pillow_suffixes()
DRAWN_MARK = "tagger-drawn"  # a PNG text key draw.py writes into every picture it draws


def is_picture(path):
    """An image file by its suffix; hidden files (temporary names while writing) are not."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_drawn(path):
    """A picture draw.py drew (known by the mark in its PNG text, not by its name alone)."""
    if not path.name.endswith("_tags.png"):
        return False
    from PIL import Image

    try:
        with Image.open(path) as img:
            return DRAWN_MARK in getattr(img, "text", {})
    except Exception:  # not a PNG after all: a picture of the user's, or unreadable
        return False


def _walk(folder):
    """Pictures under `folder`, sorted, leaving out hidden folders (backups, temporaries);
    linked folders are followed, each real folder once on a path (no loop)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        ancestors = {os.path.realpath(p) for p in Path(root).parents}
        if real in ancestors:
            dirs[:] = []  # a link back up the tree
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if is_picture(Path(root) / f)]
    return sorted(found)


def scan_pictures(inputs, skip_inside=None):
    """(pictures, other files): files given, plus pictures under folders given (recursively,
    sorted), each path once; files named one by one that are not pictures (captions, scores,
    draw.py's drawings) are the others.

    Nothing inside `skip_inside` (an output folder) is returned, so a tool whose output
    lies inside its input never takes its own earlier outputs for input. Each link to a
    picture is its own path (each gets its own caption). Raises FileNotFoundError for an
    input that does not exist.
    """
    skip = Path(skip_inside).resolve() if skip_inside else None
    found, others, seen = [], [], set()
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            candidates = [p for p in _walk(path) if p.is_file() and not is_drawn(p)]
        elif path.is_file():
            candidates = [path] if is_picture(path) and not is_drawn(path) else []
            others += [] if candidates else [path]
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
        for candidate in candidates:
            key = os.path.abspath(candidate)
            real = candidate.resolve()
            if key in seen or (skip and (real == skip or skip in real.parents)):
                continue
            seen.add(key)
            found.append(candidate)
    return found, list(dict.fromkeys(others))


def find_pictures(inputs, skip_inside=None):
    """The pictures of scan_pictures."""
    return scan_pictures(inputs, skip_inside)[0]


def mirror(inputs, out):
    """A function path -> its output folder: `out` plus the path's folder relative to the
    deepest folder holding every input (one folder given: its own layout under `out`)."""
    roots = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in inputs]
    try:
        root = Path(os.path.commonpath(roots))
    except ValueError:  # different drives: no common folder
        return lambda path: Path(out)
    return lambda path: Path(out) / path.resolve().parent.relative_to(root)


LISTED = 20  # pictures named after their whole file name that a summary lists one by one


def renamed_lines(renamed, verb, name_of):
    """Summary lines for the pictures whose stems clash: each of the first LISTED with the
    name it was `verb` as (`name_of(path)`), then how many more."""
    lines = [f"{path}: shares its stem with another picture in its folder; {verb} as "
             f"{name_of(path)}" for path in renamed[:LISTED]]
    if len(renamed) > LISTED:
        lines.append(f"... and {len(renamed) - LISTED:,} more pictures whose stems clash")
    return lines


def plan_names(paths, folder_of):
    """{path: output name without suffix}, and the paths not named after their stem.

    A picture's outputs are named after its stem (`frame.0001.png` -> `frame.0001`), as
    captioning tools expect; pictures whose stems meet in one folder (`x.png`, `x.jpg`)
    are named after their whole file name instead (`x.png`, `x.jpg`), until no two meet
    (names equal but for case also meet: a case-insensitive disk would merge them).
    """
    names = {p: Path(folder_of(p)) / p.stem for p in paths}
    while True:
        groups = collections.defaultdict(list)
        for path, name in names.items():
            groups[str(name).casefold()].append(path)
        meeting = [sorted(g) for g in groups.values() if len(g) > 1]
        if not meeting:
            return names, [p for p in paths if names[p].name != p.stem]
        for group in meeting:
            stems = [p for p in group if names[p].name != p.name]
            for k, path in enumerate(group[1:] if not stems else stems, start=1):
                # whole names first; whole names that meet only in case get a number
                names[path] = names[path].with_name(path.name if stems else f"{path.name}.{k}")


def with_suffix(name, suffix):
    """`name` + `suffix` without cutting at a dot inside the name (frame.0001 + .txt)."""
    return name.with_name(name.name + suffix)


def required_pictures(inputs, skip_inside=None):
    """scan_pictures' (pictures, others), refusing (ValueError) when there are no pictures."""
    paths, others = scan_pictures(inputs, skip_inside)
    if not paths:
        raise ValueError("no pictures found in " + ", ".join(map(str, inputs)))
    return paths, others


def not_picture_lines(others):
    """Summary lines naming the files given that were skipped because they are not pictures."""
    lines = [f"{path}: skipped, not a picture" for path in others[:LISTED]]
    if len(others) > LISTED:
        lines.append(f"... and {len(others) - LISTED:,} more files that are not pictures")
    return lines
