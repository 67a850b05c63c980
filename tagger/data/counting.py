"""Streaming tag frequency counts over a Safebooru CSV, and choosing the dictionary from them.

Counting runs over byte ranges of the file in parallel processes; each range is read with
the same row parser as the other stages, and an id that appears in two ranges is caught
after the merge, so the result equals one sequential pass.
"""
import os
from collections import Counter

from ..core.entry import process_pool
from .safebooru import REQUIRED_COLUMNS, BadRow, IdSet, open_csv, parse_lines, read_rows

CHUNK_BYTES = 32 * 2**20  # a range per task: small enough for a smooth progress bar


def _count(rows, counts, bad):
    """Add the tags of Post rows to `counts` and collect the BadRows; return rows seen."""
    update, n = counts.update, 0
    for row in rows:
        n += 1
        if isinstance(row, BadRow):
            bad.append(row)
        else:
            update(row.tags)
    return n


def byte_ranges(path, chunk_bytes=CHUNK_BYTES):
    """Split the data part of a CSV (after its header) into ranges of about chunk_bytes."""
    with open(path, "rb") as f:
        start = len(f.readline())
    size = os.path.getsize(path)
    edges = list(range(start, size, max(1, chunk_bytes))) + [size]
    return list(zip(edges[:-1], edges[1:]))


def _range_lines(path, start, end):
    """The text lines that begin inside [start, end), and the line number of the first."""
    with open(path, "rb") as f:
        f.seek(start - 1)
        f.readline()  # finish the line that began before `start` (its owner reads it)
        first = f.tell()
        data = f.read(max(0, end - first)) if first < end else b""
        if data and not data.endswith(b"\n"):
            data += f.readline()  # finish the last line that began inside the range
    return data.decode("utf-8", errors="replace").split("\n"), first


def _count_range(task):
    """Worker: count one byte range; return its counts, bad rows, ids and line count."""
    path, start, end, columns = task
    lines, _ = _range_lines(path, start, end)
    if lines and lines[-1] == "":
        lines.pop()
    counts, bad, seen = Counter(), [], IdSet()
    rows = _count(parse_lines(lines, columns, seen, first_line_no=1), counts, bad)
    return counts, bad, seen.ids(), len(lines), rows


def count_tags(csv_path, limit=0, on_rows=None, workers=1, chunk_bytes=CHUNK_BYTES):
    """Count each tag over the CSV's valid rows; return (Counter, list of BadRow, rows read)."""
    counts, bad = Counter(), []
    if workers <= 1 or limit:
        rows = _count(_ticking(read_rows(csv_path, limit), on_rows), counts, bad)
        return counts, bad, rows
    f, found = open_csv(csv_path)
    f.close()
    columns = tuple(found[name] for name in REQUIRED_COLUMNS)
    tasks = [(str(csv_path), a, b, columns) for a, b in byte_ranges(csv_path, chunk_bytes)]
    seen, seen_large, line_offset, rows = 0, frozenset(), 1, 0
    with process_pool(workers) as pool:
        for task, (part, part_bad, ids, n_lines, n_rows) in zip(tasks, pool.imap(_count_range, tasks)):
            counts.update(part)
            bad.extend(b._replace(row=b.row + line_offset) for b in part_bad)
            repeated = (ids[0] & seen, ids[1] & seen_large)
            if any(repeated):
                _drop_repeated(task, repeated, line_offset, counts, bad)
            seen, seen_large = seen | ids[0], seen_large | ids[1]
            line_offset += n_lines
            rows += n_rows
            if on_rows:
                on_rows(n_rows)
    bad.sort(key=lambda b: b.row)
    return counts, bad, rows


def _drop_repeated(task, repeated, line_offset, counts, bad):
    """Un-count the rows of a range whose ids an earlier range already had (rare)."""
    path, start, end, columns = task
    lines, _ = _range_lines(path, start, end)
    for row in parse_lines(lines, columns, IdSet(), first_line_no=1 + line_offset):
        if not isinstance(row, BadRow) and (repeated[0] >> row.id & 1 or row.id in repeated[1]):
            counts.subtract(row.tags)
            bad.append(BadRow(row.row, str(row.id), row.url,
                              "duplicate id (an earlier row has it; kept that one)"))
    for tag in [t for t, n in counts.items() if n <= 0]:
        del counts[tag]


def _ticking(rows, on_rows):
    for row in rows:
        if on_rows:
            on_rows(1)
        yield row


def choose_tags(counts, min_count=None, top=None, exclude=()):
    """The dictionary: tags counted more than `min_count` times, or the `top` most frequent."""
    excluded = set(exclude)
    ranked = [(tag, n) for tag, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
              if tag not in excluded]
    if top:
        return [tag for tag, _ in ranked[:top]]
    return [tag for tag, n in ranked if n > min_count]
