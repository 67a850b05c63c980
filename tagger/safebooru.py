"""Streaming reader for the Safebooru metadata CSV (the Kaggle `all_data.csv` dump)."""
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("id", "preview_url", "tags")
HEADER = ("id", "created_at", "rating", "score", "sample_url", "sample_width",
          "sample_height", "preview_url", "tags")
_MAX_FIELD = 10 * 1024 * 1024  # a tag string longer than 10 MB is a broken row, not a post


class CsvFormatError(ValueError):
    """The file is not a Safebooru CSV at all (missing, empty, or without the needed columns)."""


@dataclass(frozen=True)
class Post:
    """One valid row: its id, absolute thumbnail URL and tags in CSV order."""
    row: int
    id: int
    url: str
    tags: tuple


@dataclass(frozen=True)
class BadRow:
    """A row that was skipped, with the reason a person can act on."""
    row: int
    id: str
    url: str
    reason: str


def split_tags(text):
    """Split a space-separated tag string into unique tags, keeping their order."""
    return tuple(dict.fromkeys(text.split()))


def absolute_url(url):
    """Give protocol-relative URLs (`//host/path`) an https scheme; leave others alone."""
    url = url.strip()
    return "https:" + url if url.startswith("//") else url


class _LineTap:
    """Iterate a file's lines while remembering those read since the last `take()`."""

    def __init__(self, lines):
        self._lines = lines
        self.seen = []

    def __iter__(self):
        return self

    def __next__(self):
        line = next(self._lines)
        self.seen.append(line)
        return line

    def take(self):
        seen, self.seen = self.seen, []
        return seen


def _records(f):
    """Yield (row_number, fields) per CSV record; a stray quote spoils one line, not the file."""
    csv.field_size_limit(min(sys.maxsize, _MAX_FIELD))
    tap = _LineTap(iter(f))
    reader = csv.reader(tap)
    line_no = 1  # the header is line 1
    for fields in reader:
        lines = tap.take()
        if len(lines) == 1:
            line_no += 1
            yield line_no, fields
            continue
        # An unmatched quote made the reader join several lines: parse each on its own.
        for line in lines:
            line_no += 1
            try:
                yield line_no, next(csv.reader([line]), [])
            except csv.Error:
                yield line_no, None


def open_csv(path):
    """Open a Safebooru CSV, check its header, and return (file, column index map)."""
    path = Path(path)
    if not path.is_file():
        raise CsvFormatError(f"{path}: no such file. Download all_data.csv from Kaggle's "
                             f"'Safebooru' dataset, or pass --csv PATH.")
    f = open(path, newline="", encoding="utf-8-sig", errors="replace")
    header = next(csv.reader([f.readline()]), [])
    columns = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        f.close()
        raise CsvFormatError(f"{path}: line 1 is not a Safebooru header (missing column(s) "
                             f"{', '.join(missing)}; expected {','.join(HEADER)}).")
    return f, columns


def _parse(row_no, fields, columns, seen_ids):
    """Turn one record into a Post or a BadRow."""
    if fields is None:
        return BadRow(row_no, "", "", "unparseable line (stray quote)")
    get = lambda name: fields[columns[name]] if columns[name] < len(fields) else None
    raw_id, url, tags = get("id"), get("preview_url"), get("tags")
    raw_id = (raw_id or "").strip()
    if url is None or tags is None:
        return BadRow(row_no, raw_id, "", f"missing fields ({len(fields)} of {len(columns)})")
    url = absolute_url(url)
    if not raw_id.isdigit() or not raw_id.isascii():
        return BadRow(row_no, raw_id, url, "id is not a positive integer")
    post_id = int(raw_id)
    if seen_ids.add(post_id):
        return BadRow(row_no, raw_id, url, "duplicate id (an earlier row has it; kept that one)")
    tag_tuple = split_tags(tags)
    if not tag_tuple:
        return BadRow(row_no, raw_id, url, "no tags")
    return Post(row_no, post_id, url, tag_tuple)


class IdSet:
    """Ids seen so far: a bitmap for ids below 2**28 (at most 32 MB), a set above."""

    _BITMAP_LIMIT = 1 << 28

    def __init__(self):
        self._bits = bytearray()
        self._large = set()

    def add(self, post_id):
        """Record `post_id`; return True if it was already seen."""
        if post_id >= self._BITMAP_LIMIT:
            seen = post_id in self._large
            self._large.add(post_id)
            return seen
        byte, bit = divmod(post_id, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        seen = bool(self._bits[byte] >> bit & 1)
        self._bits[byte] |= 1 << bit
        return seen


def read_rows(path, limit=0):
    """Yield a Post or BadRow for each of the first `limit` data rows (0 = all) of the CSV."""
    f, columns = open_csv(path)
    seen = IdSet()
    with f:
        for count, (row_no, fields) in enumerate(_records(f), 1):
            if fields == []:
                continue  # blank line
            yield _parse(row_no, fields, columns, seen)
            if limit and count >= limit:
                break
