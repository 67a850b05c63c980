"""deal.py's per-image state on disk, so that its memory stays flat on the full dump.

Which pictures were downloaded, the labels of the images already resized, the tag-folder
entries check.py removed and the rows that failed would take a few KB per image in Python
dicts (about 7 GB at 3 million rows); here they live in a SQLite file in the data folder,
filled once per run from the files that hold them (the images folder, labels.csv, check.py's
records), read one row at a time, and written back sorted. The file is scratch: it is made
anew by every run (a killed run's is dropped) and removed at the end; nothing is lost with
it, since the files it was filled from are rewritten only from it, whole, at the end.
"""
import os
import sqlite3
from contextlib import closing

CACHE_KB = 4 * 1024  # SQLite's page cache: memory bounded whatever the number of rows (16 MB
# was no faster: deal.py at 200,000 images took 103 s with it, 104 s with 4 MB, and 11 MB more)

_TABLES = (
    "CREATE TABLE images (id INTEGER PRIMARY KEY, name TEXT)",
    "CREATE TABLE labels (id INTEGER PRIMARY KEY, path TEXT, tags TEXT)",
    "CREATE TABLE removed (id INTEGER, folder TEXT, PRIMARY KEY (id, folder)) WITHOUT ROWID",
    "CREATE TABLE errors (row INTEGER, id TEXT, path TEXT, reason TEXT)",
)


def windows(items, size):
    """`items` in lists of up to `size`: a bounded window at a time (CSV rows to plan, rows
    for executemany)."""
    window = []
    for item in items:
        window.append(item)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window


class Scratch:
    """A scratch SQLite file: made anew (a killed run's is dropped), removed by close()."""
    TABLES = ()

    def __init__(self, path):
        self.path = str(path)
        for stale in (self.path, self.path + "-journal"):
            if os.path.exists(stale):
                os.unlink(stale)  # a killed run's: its content came from files still here
        self.db = sqlite3.connect(self.path, isolation_level=None)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", f"cache_size = -{CACHE_KB}",
                       "temp_store = FILE"):
            self.db.execute(f"PRAGMA {pragma}")
        for table in self.TABLES:
            self.db.execute(table)
        self.db.execute("BEGIN")

    def _one(self, query, *params):
        return self.db.execute(query, params).fetchone()

    def count(self, table):
        return self._one(f"SELECT COUNT(*) FROM {table}")[0]

    def close(self):
        """Drop the scratch file."""
        with closing(self.db):
            self.db.execute("COMMIT")
        for name in (self.path, self.path + "-journal"):
            if os.path.exists(name):
                os.unlink(name)


class DealState(Scratch):
    """The scratch database of one deal.py run (see the module docstring)."""
    TABLES = _TABLES

    def fill(self, table, rows):
        """Insert `rows` (tuples in the table's column order) into `table`; later rows with an
        id already there replace it."""
        width = {"images": 2, "labels": 3, "removed": 2, "errors": 4}[table]
        marks = ", ".join("?" * width)
        for batch in windows(rows, 10000):
            self.db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", batch)

    def any(self, table):
        """Whether `table` has a row."""
        return self._one(f"SELECT 1 FROM {table} LIMIT 1") is not None

    def image(self, post_id):
        """The downloaded picture's file name of a post, or None."""
        found = self._one("SELECT name FROM images WHERE id = ?", post_id)
        return found and found[0]

    def tags(self, post_id):
        """The tags labels.csv gives a post, or None when it has no row there."""
        found = self._one("SELECT tags FROM labels WHERE id = ?", post_id)
        return None if found is None else tuple(found[0].split())

    def set_label(self, post_id, path, tags):
        self.db.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?)",
                        (post_id, path, " ".join(tags)))

    def drop_label(self, post_id):
        """Remove a post's label; return whether it had one."""
        return self.db.execute("DELETE FROM labels WHERE id = ?", (post_id,)).rowcount > 0

    def removed_folders(self, post_id):
        """The tag folders check.py took this post out of."""
        return {f for f, in self.db.execute("SELECT folder FROM removed WHERE id = ?",
                                            (post_id,))}

    def add_error(self, row, post_id, path, reason):
        self.db.execute("INSERT INTO errors VALUES (?, ?, ?, ?)", (row, post_id, path, reason))

    def labels(self):
        """(id, path, tags string) of every label, by id."""
        return self.db.execute("SELECT id, path, tags FROM labels ORDER BY id")

    def errors(self):
        """(row, id, path, reason) of every error, by row."""
        return self.db.execute("SELECT row, id, path, reason FROM errors ORDER BY row, id")
