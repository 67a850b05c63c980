"""Streaming reader for the Safebooru metadata CSV (the Kaggle `all_data.csv` dump)."""
import csv
import sys
from pathlib import Path
from typing import NamedTuple

from ..core.folders import DataFolder

REQUIRED_COLUMNS = ("id", "preview_url", "tags")
HEADER = ("id", "created_at", "rating", "score", "sample_url", "sample_width",
          "sample_height", "preview_url", "tags")
_MAX_FIELD = 10 * 1024 * 1024  # a tag string longer than 10 MB is a broken row, not a post
MAX_ID = 2**63 - 1  # ids are int64 in training and test (Safebooru's are below 10 million)


class CsvFormatError(ValueError):
    """The file is not a Safebooru CSV at all (missing, empty, or without the needed columns)."""


class Post(NamedTuple):
    """One valid row: its id, absolute thumbnail URL and tags in CSV order."""
    row: int
    id: int
    url: str
    tags: tuple


class BadRow(NamedTuple):
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
    return "https:" + url if url[:2] == "//" else url


def _records(lines, first_line_no=2):
    """Yield (row_number, fields) per line. Lines without quotes are split directly, the
    others by the csv module, one line at a time: a stray quote spoils one row, not the file
    (Safebooru rows never span lines)."""
    csv.field_size_limit(min(sys.maxsize, _MAX_FIELD))
    for line_no, line in enumerate(lines, first_line_no):
        if '"' not in line:
            yield line_no, line.rstrip("\r\n").split(",")
            continue
        try:
            yield line_no, next(csv.reader([line]), [])
        except csv.Error:
            yield line_no, None


def open_csv(path, url_column="preview_url"):
    """Open a Safebooru CSV, check its header (with `url_column` for the URLs), and return
    (file, column index map)."""
    path = Path(path)
    if path.is_dir():
        raise CsvFormatError(f"{path} is a folder, not a CSV file: pass the CSV itself "
                             f"(--csv {DataFolder(path).csv}, say).")
    if path.parent.is_file():
        raise CsvFormatError(f"{path}: {path.parent} is a file, not a folder; --data-dir "
                             f"takes the data folder (the one holding all_data.csv).")
    if not path.is_file():
        raise CsvFormatError(f"{path}: no such file. Download all_data.csv from Kaggle's "
                             f"'Safebooru' dataset, or pass --csv PATH.")
    f = open(path, newline="", encoding="utf-8-sig", errors="replace")
    header = next(csv.reader([f.readline()]), [])
    columns = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [c for c in _required(url_column) if c not in columns]
    if missing == [url_column] and url_column != "preview_url":
        f.close()
        raise CsvFormatError(f"{path} has no {url_column} column (it has "
                             f"{', '.join(columns)}); choose another --url-column.")
    if missing:
        f.close()
        raise CsvFormatError(f"{path}: line 1 is not a Safebooru header (missing column(s) "
                             f"{', '.join(missing)}; expected {','.join(HEADER)}).")
    return f, columns


def _parse(row_no, fields, columns, seen_ids):
    """Turn one record into a Post or a BadRow."""
    if fields is None:
        return BadRow(row_no, "", "", "unparseable line (stray quote)")
    id_col, url_col, tags_col = columns
    if len(fields) <= max(columns):
        raw_id = fields[id_col].strip() if id_col < len(fields) else ""
        return BadRow(row_no, raw_id, "", f"missing fields ({len(fields)} found)")
    raw_id, url, tags = fields[id_col].strip(), absolute_url(fields[url_col]), fields[tags_col]
    if not raw_id.isdigit() or not raw_id.isascii():
        return BadRow(row_no, raw_id, url, "id is not a positive integer")
    post_id = int(raw_id)
    if post_id > MAX_ID:
        return BadRow(row_no, raw_id, url, f"id is over {MAX_ID:,} (2**63 - 1)")
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

    def ids(self):
        """Every id recorded: (an integer bitmap of the small ones, bit i set for id i; a
        frozenset of the large ones, which a bitmap would need exabytes for)."""
        return int.from_bytes(self._bits, "little"), frozenset(self._large)

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


def parse_lines(lines, columns, seen_ids, first_line_no=2, limit=0):
    """Yield a Post or BadRow per non-blank line; `columns` are REQUIRED_COLUMNS' indices."""
    count = 0
    for row_no, fields in _records(lines, first_line_no):
        if fields == [""] or not fields:
            continue  # blank line
        yield _parse(row_no, fields, columns, seen_ids)
        count += 1
        if limit and count >= limit:
            break


def _required(url_column):
    """The columns a reader needs: the id, the URL column it fetches, the tags."""
    return REQUIRED_COLUMNS if url_column == "preview_url" else ("id", url_column, "tags")


def read_rows(path, limit=0, url_column="preview_url"):
    """Yield a Post or BadRow for each of the first `limit` data rows (0 = all) of the CSV,
    with the URLs of `url_column`."""
    f, columns = open_csv(path, url_column)
    with f:
        yield from parse_lines(f, tuple(columns[name] for name in _required(url_column)),
                               IdSet(), limit=limit)
