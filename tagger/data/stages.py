"""What a stage needs from the stages before it, and which stage to run when it is missing."""
from pathlib import Path

from ..core import cli


def require_data_dir(data_dir, made_by="download.py"):
    """Exit 2 in one line if the data folder does not exist (a typo'd --data-dir), before a
    later check blames a missing stage."""
    if not Path(data_dir).is_dir():
        cli.fail(f"the data folder {data_dir} does not exist; check --data-dir ({made_by} "
                 f"makes it)")


def require_downloaded(images, labels, images_dir):
    """Exit 2 naming download.py when deal.py finds no thumbnail to resize and none resized
    before (`images`: the downloaded files, `labels`: labels.csv's rows)."""
    if not images and not labels:
        cli.fail(f"no downloaded thumbnails in {images_dir}; run download.py first")
