"""Which picture of each post download.py fetches: the CSV's URL column, its folder, its size.

Safebooru's CSV gives each post a thumbnail (preview_url, at most 150 px on a side), a
sample (sample_url, about 850 px) and, in some dumps, the original (file_url). Each column
has its own images folder in the data folder, so pictures of two sizes never mix, and its
own default byte limit: a body larger than that is not the picture the column promises.
"""
from ..core.folders import DataFolder
from .fetch import iter_images

MIB = 1024 * 1024
# column -> (folder in DATA_DIR, default --max-bytes)
URL_COLUMNS = {
    "preview_url": ("images", 2 * MIB),      # thumbnails: tens of KB
    "sample_url": ("sample_images", 16 * MIB),  # ~850 px JPEGs or PNGs: hundreds of KB
    "file_url": ("file_images", 64 * MIB),    # originals: up to tens of MB
}
DEFAULT_COLUMN = "preview_url"


def recorded_column(data_dir):
    """The URL column download.py recorded for this data folder (preview_url before any)."""
    return DataFolder(data_dir).download_setting("url_column", DEFAULT_COLUMN)


def choose_folder(data_dir, column, out):
    """The images folder for `column`: `out` if given, else the recorded one when the column
    is the recorded one, else the column's own folder. Returns (folder, refusal or None):
    a data folder holds the pictures of one column, in one folder."""
    data = DataFolder(data_dir)
    before, recorded = recorded_column(data_dir), data.images
    own = recorded if column == before else data.path / URL_COLUMNS[column][0]
    folder = own if out is None else out
    has_pictures = next(iter_images(recorded), None) is not None
    if has_pictures and column != before:
        return folder, (f"{data_dir} holds the pictures of {before} (in {recorded}); "
                        f"download {column} into another --data-dir, so that deal.py never "
                        f"mixes the two sizes")
    if has_pictures and folder.resolve() != recorded.resolve():
        return folder, (f"{data_dir}'s pictures are in {recorded}; leave --out out to add "
                        f"to them, or use another --data-dir")
    return folder, None
