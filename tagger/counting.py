"""Streaming tag frequency counts over a Safebooru CSV, and choosing the dictionary from them."""
from collections import Counter

from .safebooru import BadRow, read_rows


def count_tags(csv_path, limit=0, on_row=None):
    """Count each tag over the CSV's valid rows; return (Counter, list of BadRow, rows read)."""
    counts, bad, rows = Counter(), [], 0
    update = counts.update
    for row in read_rows(csv_path, limit):
        if isinstance(row, BadRow):
            bad.append(row)
        else:
            update(row.tags)
        rows += 1
        if on_row:
            on_row()
    return counts, bad, rows


def choose_tags(counts, min_count=None, top=None, exclude=()):
    """The dictionary: tags counted more than `min_count` times, or the `top` most frequent."""
    excluded = set(exclude)
    ranked = [(tag, n) for tag, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
              if tag not in excluded]
    if top:
        return [tag for tag, _ in ranked[:top]]
    return [tag for tag, n in ranked if n > min_count]
