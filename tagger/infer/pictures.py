"""Pictures as a user gives them: finding them in files and folders, and naming each one's
outputs (beside it, or mirrored under an output folder) so that no two outputs meet."""
import collections
import os
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def is_picture(path):
    """An image file by its suffix; hidden files (temporary names while writing) are not."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def find_pictures(inputs, skip_inside=None):
    """Files given, plus pictures under folders given (recursively, sorted), each once.

    Nothing inside `skip_inside` (an output folder) is returned, so a tool whose output
    lies inside its input never takes its own earlier outputs for input. Raises
    FileNotFoundError for an input that does not exist.
    """
    skip = Path(skip_inside).resolve() if skip_inside else None
    found, seen = [], set()
    for path in inputs:
        path = Path(path)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if is_picture(p) and p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
        for candidate in candidates:
            real = candidate.resolve()
            if real in seen or (skip and (real == skip or skip in real.parents)):
                continue
            seen.add(real)
            found.append(candidate)
    return found


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
    """find_pictures, refusing (ValueError) when there are none."""
    paths = find_pictures(inputs, skip_inside)
    if not paths:
        raise ValueError("no pictures found in " + ", ".join(map(str, inputs)))
    return paths
