"""check.py's per-image state on disk, so that its memory stays flat on the full dump.

Every tag-folder entry, the picture (inode) it is a link to, each picture's decoding result
and the hashes seen so far live in a scratch SQLite file (see tagger.data.scratch), not in
Python objects (about 4 KB per image, 12 GB at 3 million). The pictures are decoded a
window at a time, and duplicates are found in one pass by id over the table.
"""
import hashlib
import random

from .grouping import image_paths
from .scratch import Scratch

WINDOW = 4096  # pictures handed to the decoding processes at a time

_TABLES = (
    "CREATE TABLE entries (entry TEXT PRIMARY KEY, folder TEXT, id INTEGER, picture TEXT, "
    "gone INTEGER DEFAULT 0)",
    "CREATE INDEX entries_picture ON entries (picture)",
    "CREATE INDEX entries_folder ON entries (folder, id)",
    # a picture: the first entry found of an inode (its key: device, inode, size and time)
    "CREATE TABLE pictures (key TEXT PRIMARY KEY, id INTEGER, first TEXT, done INTEGER "
    "DEFAULT 0, reason TEXT, bytes TEXT, pixels TEXT)",
    "CREATE TABLE keepers (hash TEXT PRIMARY KEY, id INTEGER) WITHOUT ROWID",
    "CREATE TABLE duplicates (key TEXT PRIMARY KEY, of INTEGER) WITHOUT ROWID",
)


def entry_digest(rel, st):
    """One entry's part of the tag folders' fingerprint (name, size, modification time)."""
    line = f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.sha256(line).digest(), "big")


def combine(digests):
    """A fingerprint of entries in any order: the sum of their digests, as hex."""
    return f"{sum(digests) % (1 << 256):064x}"


class CheckState(Scratch):
    """The scratch database of one check.py run."""
    TABLES = _TABLES

    def scan(self, root):
        """Record every entry under the tag folders `root` (one stat each); return the
        fingerprint of what was found."""
        def digests():
            rows, pictures = [], []
            for path in image_paths(root):
                st = path.stat()
                rel = path.relative_to(root).as_posix()
                yield entry_digest(rel, st)
                key = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
                digit = path.stem.isdigit()
                rows.append((rel, path.parent.name, int(path.stem) if digit else None,
                             key if digit else None))
                if digit:
                    pictures.append((key, int(path.stem), str(path)))
                if len(rows) >= WINDOW:
                    self._add(rows, pictures)
                    rows, pictures = [], []
            self._add(rows, pictures)
        return combine(digests())

    def _add(self, rows, pictures):
        self.db.executemany("INSERT INTO entries (entry, folder, id, picture) VALUES "
                            "(?, ?, ?, ?)", rows)
        self.db.executemany("INSERT OR IGNORE INTO pictures (key, id, first) VALUES (?, ?, ?)",
                            pictures)

    def folders(self):
        """{folder: entries} of the tag folders."""
        return dict(self.db.execute("SELECT folder, COUNT(*) FROM entries GROUP BY folder"))

    def record(self, key, reason, byte_hash, pixel_hash):
        """A picture's decoding result."""
        self.db.execute("UPDATE pictures SET done = 1, reason = ?, bytes = ?, pixels = ? "
                        "WHERE key = ?", (reason, byte_hash, pixel_hash, key))

    def decoded(self):
        """How many pictures have their decoding result."""
        return self._one("SELECT COUNT(*) FROM pictures WHERE done = 1")[0]

    def undecoded(self):
        """Yield lists of (key, first entry path) of the pictures not decoded yet, a window
        at a time, in the order they were found."""
        last = 0
        while True:
            rows = self.db.execute("SELECT rowid, key, first FROM pictures WHERE done = 0 "
                                   "AND rowid > ? ORDER BY rowid LIMIT ?",
                                   (last, WINDOW)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(key, first) for _, key, first in rows]

    def find_duplicates(self):
        """Mark each valid picture that has the bytes or pixels of a lower id's as its
        duplicate (of each group of identical pictures with different ids the lowest id is
        kept); return how many."""
        found = 0
        valid = self.db.execute("SELECT key, id, bytes, pixels FROM pictures WHERE reason IS "
                                "NULL ORDER BY id, rowid")
        for key, post_id, byte_hash, pixel_hash in valid:
            first = self._keeper(byte_hash) or self._keeper(pixel_hash)
            if first is not None and first != post_id:
                self.db.execute("INSERT INTO duplicates VALUES (?, ?)", (key, first))
                found += 1
            else:
                self.db.executemany("INSERT OR IGNORE INTO keepers VALUES (?, ?)",
                                    [(h, post_id) for h in (byte_hash, pixel_hash) if h])
        return found

    def _keeper(self, digest):
        found = digest and self._one("SELECT id FROM keepers WHERE hash = ?", digest)
        return found[0] if found else None

    def removals(self):
        """Yield (first entry's id, reason, is invalid, its entries sorted) of each invalid
        or duplicate picture, by id."""
        found = self.db.execute(
            "SELECT p.key, p.id, p.reason, d.of FROM pictures p LEFT JOIN duplicates d "
            "ON p.key = d.key WHERE p.reason IS NOT NULL OR d.of IS NOT NULL "
            "ORDER BY p.id, p.rowid").fetchall()  # what is removed, not every picture
        for key, post_id, reason, of in found:
            entries = [e for e, in self.db.execute("SELECT entry FROM entries WHERE "
                                                   "picture = ?", (key,))]
            yield post_id, reason or f"duplicate of id {of}", reason is not None, entries

    def mark_gone(self, entry):
        self.db.execute("UPDATE entries SET gone = 1 WHERE entry = ?", (entry,))

    def capped(self, folder, max_per_tag, seed):
        """The entries of `folder` over the cap, chosen deterministically from `seed` among
        those not removed (by id; the choice depends only on how many there are)."""
        n = self._one("SELECT COUNT(*) FROM entries WHERE folder = ? AND gone = 0 AND id IS "
                      "NOT NULL", folder)[0]
        if not max_per_tag or n <= max_per_tag:
            return []
        keep = set(random.Random(f"{seed}/{folder}").sample(range(n), max_per_tag))
        rows = self.db.execute("SELECT entry FROM entries WHERE folder = ? AND gone = 0 AND "
                               "id IS NOT NULL ORDER BY id, rowid", (folder,))
        return [entry for i, (entry,) in enumerate(rows) if i not in keep]
