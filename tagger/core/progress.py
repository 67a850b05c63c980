"""Progress bars and counts for the terminal."""
from tqdm.auto import tqdm


def bar(total=None, desc="", unit="it", disable=None, leave=True):
    """A tqdm bar with rate and ETA, written to stderr (drawn only on a terminal unless
    `disable` says otherwise; `leave=False` clears it when done)."""
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, smoothing=0.05,
                disable=disable, unit_scale=False, leave=leave)


def count_lines(path):
    """Count the data rows of a text file quickly (lines minus the header)."""
    with open(path, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return max(0, lines - 1)


def plural(n, word):
    """'1 image', '2 images' with thousands separators."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"
