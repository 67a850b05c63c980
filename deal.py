"""Resize the downloaded thumbnails and group them into one folder per dictionary tag.

Each image is resized once to DATA_DIR/resized/<id>.jpg and hard-linked into
DATA_DIR/anime_images/<tag>/ for each of its dictionary tags; DATA_DIR/labels.csv lists
every image's dictionary tags (the multi-label ground truth). A rerun skips images already
resized, relabels and relinks them after a dictionary change (without resizing again) and
moves the folders of tags no longer in the dictionary to DATA_DIR/replaced/anime_images/.

It reads the rows download.py fetched (the window it recorded, the first 100,000 rows by
default; --limit 55000 is the original's), a window of rows at a time, and keeps its
per-image bookkeeping on disk, so its memory does not grow with the rows.

Examples:
  python deal.py                                    # download.py's rows, 100x100, padded
  python deal.py --limit 55000 --fit stretch        # the original's rows and resize
  python deal.py --image-size 448                   # from download.py --url-column sample_url
"""
import os
import sys
from collections import Counter

from tagger.core import cli, locks, quiet
from tagger.core.entry import stage
from tagger.core.files import atomic_csv_writer
from tagger.core.folders import DataFolder
from tagger.core.images import FITS
from tagger.core.progress import bar, count_lines
from tagger.core.tags import load_dic, tag_to_folder
from tagger.data import window
from tagger.data.dealing import (CHUNK_ROWS, Layout, link_done, make_plan, missing_folders,
                                 move_stale_folders)
from tagger.data.fetch import iter_images
from tagger.data.grouping import JobRunner, iter_labels, write_label_rows
from tagger.data.removals import iter_removed
from tagger.data.safebooru import CsvFormatError, open_csv, read_rows
from tagger.data.scratch import DealState, windows
from tagger.data.sources import DEFAULT_COLUMN, recorded_column
from tagger.data.stages import require_data_dir, require_downloaded

MAX_IMAGE_SIZE = 448  # the largest side the tagger is built for (the WD14 taggers' input)
THUMBNAIL_SIDE = 150  # preview_url's pictures are at most this on a side


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    cli.add_csv(parser)
    cli.add_dic(parser)
    parser.add_argument("--image-size", type=cli.ranged(int, 1, MAX_IMAGE_SIZE),
                        default=None,
                        help=f"side of the square images, in pixels, at most {MAX_IMAGE_SIZE} "
                             f"(default: the size recorded in DATA_DIR/deal_args.json, else "
                             f"100)")
    parser.add_argument("--fit", choices=FITS, default=None,
                        help="pad: keep the aspect ratio, pad to a square with white; "
                             "stretch: plain resize, as the original did (default: the recorded "
                             "fit, else pad)")
    window.add_limit(parser)
    cli.add_workers(parser, cli.default_workers(), "processes")
    cli.add_overwrite(parser, "resize again images already done")
    quiet.add_verbosity(parser, tensorflow=False)
    args = cli.resolve(parser.parse_args(argv))
    require_data_dir(args.data_dir)
    data = DataFolder(args.data_dir)
    args.image_size = args.image_size or data.image_size
    args.fit = args.fit or data.fit
    window.resolve_limit(args, "deal")
    if args.image_size > THUMBNAIL_SIDE and recorded_column(args.data_dir) == DEFAULT_COLUMN:
        print(f"note: the thumbnails are at most {THUMBNAIL_SIDE} px on a side, so "
              f"{args.image_size} px images are upscaled; download.py --url-column "
              f"sample_url fetches ~850 px pictures", file=sys.stderr)
    return args


def describe(size, fit):
    """A size and fit as a person reads them."""
    return f"{size}x{size}, " + ("padded" if fit == "pad" else "stretched")


def check_settings(data, args):
    """Refuse to mix image sizes or fits in one data folder unless --overwrite is given.

    Only images that exist count: deal_args.json is written once images were made, and a
    folder whose resized/ holds none takes any size."""
    made = data.resized.is_dir() and any(e.name.endswith(".jpg")
                                         for e in os.scandir(data.resized))
    if data.dealt and made and not args.overwrite:
        before = (data.deal_setting("image_size", None), data.deal_setting("fit", None))
        if before != (args.image_size, args.fit):
            cli.fail(f"{args.data_dir} holds images made at {describe(*before)} (see "
                     f"{data.deal_args}), not {describe(args.image_size, args.fit)}; pass "
                     f"--overwrite to redo them all, or use another --data-dir")


@stage
def main(argv=None):
    args = parse_args(argv)
    no_bar = quiet.from_args(args)[1]
    with locks.data_folder(args.data_dir):
        return deal(args, no_bar)


def open_state(data):
    """The run's scratch state, filled from the images folder, labels.csv and check.py's
    records."""
    state = DealState(data.deal_scratch)
    state.fill("images", iter_images(data.images))
    state.fill("labels", ((i, rel, " ".join(tags)) for i, rel, tags in iter_labels(data.labels)))
    state.fill("removed", ((post_id, folder) for folder, post_id in iter_removed(data)))
    return state


def deal(args, no_bar=False):
    """Resize, label and link the images (main's work, with the data folder locked)."""
    try:
        open_csv(args.csv)[0].close()
        dic = load_dic(args.dic)
    except (CsvFormatError, OSError, ValueError) as exc:
        cli.fail(exc)
    data = DataFolder(args.data_dir)
    check_settings(data, args)
    state = open_state(data)
    try:
        require_downloaded(state.any("images"), state.any("labels"), data.images)
        counts = resize_all(args, data, dic, state, no_bar)
        n_errors = state.count("errors")
    finally:
        state.close()
    print(summary(counts, n_errors, len(dic), data))
    return counts


def resize_all(args, data, dic, state, no_bar):
    """Plan and resize the CSV rows a window at a time; write labels.csv, deal_errors.csv
    and deal_args.json from `state` at the end (also after Ctrl-C). Returns the counts."""
    layout = Layout(data, data.images, args.image_size, args.fit, args.overwrite,
                    missing_folders(data, dic))
    moved = move_stale_folders(data.tag_folders, dic, data.replaced_tag_folders)
    for folder in {tag_to_folder(t) for t in dic}:
        (data.tag_folders / folder).mkdir(parents=True, exist_ok=True)
    data.resized.mkdir(parents=True, exist_ok=True)
    counts = Counter(moved=len(moved))
    total = count_lines(args.csv)

    def on_done(job, error):
        counts["failed" if error else "resized"] += 1
        if error:
            state.add_error(job.row, job.id, job.src, error)
            state.drop_label(job.id)
        else:  # recorded only once done, so an interrupted run's rest is redone
            state.set_label(job.id, data.resized_name(job.id), job.tags)

    try:
        with bar(min(total, args.limit) if args.limit else total, "deal", "row",
                 disable=no_bar or None) as progress, JobRunner(args.workers) as run:
            for rows in windows(read_rows(args.csv, args.limit), CHUNK_ROWS):
                plan = make_plan(rows, dic, state, layout)
                counts.update(plan.counts)
                counts["relabelled"] += plan.relabelled
                counts["relinked"] += link_done(plan.links)
                run(plan.jobs, on_done)
                progress.update(len(rows))
    finally:
        write_label_rows(data.labels, state.labels())
        with atomic_csv_writer(data.deal_errors, ("row", "id", "path", "reason")) as writer:
            writer.writerows(state.errors())
        # the size and fit of images that now exist (also when a killed run made them all)
        if counts["resized"] or counts["already done"]:
            cli.save_args(data.deal_args, args)
    return counts


def summary(counts, n_errors, n_folders, data):
    """The run's one summary line."""
    text = (f"resized {counts['resized']:,} images into {n_folders} tag folders under "
            f"{data.tag_folders}, already done {counts['already done']:,}, "
            f"not downloaded {counts['not downloaded']:,}, "
            f"without a dictionary tag {counts['no dictionary tag']:,}")
    if counts["relabelled"] or counts["relinked"]:
        text += (f"; relabelled {counts['relabelled']:,} images from the dictionary and linked "
                 f"{counts['relinked']:,} entries of images already resized into their folders")
    if counts["moved"]:
        text += (f"; moved {counts['moved']} folders of tags no longer in the dictionary to "
                 f"{data.replaced_tag_folders}")
    if n_errors:
        text += f", skipped {n_errors:,} (see {data.deal_errors})"
    return text


if __name__ == "__main__":
    main()
