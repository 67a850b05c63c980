"""Resize the downloaded thumbnails and group them into one folder per dictionary tag.

Each image is resized once to DATA_DIR/resized/<id>.jpg and hard-linked into
DATA_DIR/anime_images/<tag>/ for each of its dictionary tags; DATA_DIR/labels.csv lists
every image's dictionary tags (the multi-label ground truth). A rerun skips images already
resized, relabels and relinks them after a dictionary change (without resizing again) and
moves the folders of tags no longer in the dictionary to DATA_DIR/replaced/anime_images/.

Examples:
  python deal.py                                    # first 55,000 rows, 100x100, padded
  python deal.py --limit 0 --image-size 64 --fit stretch --workers 2
"""
import os

from tagger.core import cli, quiet
from tagger.data.dealing import Layout, link_done, make_plan, move_stale_folders
from tagger.core import locks
from tagger.core.entry import stage
from tagger.data.fetch import existing_images
from tagger.core.files import atomic_csv_writer
from tagger.core.folders import DataFolder
from tagger.data.grouping import read_labels, run_jobs, write_labels
from tagger.core.images import FITS
from tagger.core.progress import bar
from tagger.data.removals import removed_entries
from tagger.data.stages import require_data_dir, require_downloaded
from tagger.data.safebooru import CsvFormatError, open_csv, read_rows
from tagger.core.tags import load_dic, tag_to_folder


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    cli.add_csv(parser)
    cli.add_dic(parser)
    cli.add_image_size(parser)
    parser.add_argument("--fit", choices=FITS, default="pad",
                        help="pad: keep the aspect ratio, pad to a square with white; "
                             "stretch: plain resize (the original)")
    parser.add_argument("--limit", type=cli.non_negative_int, default=55000, help="rows to read; 0 = all")
    cli.add_workers(parser, cli.default_workers(), "processes")
    cli.add_overwrite(parser, "resize again images already done")
    quiet.add_verbosity(parser)
    args = cli.resolve(parser.parse_args(argv))
    require_data_dir(args.data_dir)
    return args


def check_settings(data, args):
    """Refuse to mix image sizes or fits in one data folder unless --overwrite is given.

    Only images that exist count: deal_args.json is written once images were made, and a
    folder whose resized/ holds none takes any size."""
    settings = {"image_size": args.image_size, "fit": args.fit}
    made = data.resized.is_dir() and any(n.endswith(".jpg") for n in os.listdir(data.resized))
    if data.dealt and made and not args.overwrite:
        before = {k: data.deal_setting(k, None) for k in settings}
        if before != settings:
            cli.fail(f"{args.data_dir} holds images made with {before}, not {settings}; "
                     f"pass --overwrite to redo them all, or use another --data-dir")


@stage
def main(argv=None):
    args = parse_args(argv)
    no_bar = quiet.from_args(args)[1]
    with locks.data_folder(args.data_dir):
        return deal(args, no_bar)


def deal(args, no_bar=False):
    """Resize, label and link the images (main's work, with the data folder locked)."""
    try:
        open_csv(args.csv)[0].close()
        dic = load_dic(args.dic)
    except (CsvFormatError, OSError, ValueError) as exc:
        cli.fail(exc)
    data = DataFolder(args.data_dir)
    check_settings(data, args)
    labels = read_labels(data.labels)
    images_dir = data.images
    layout = Layout(data, images_dir, existing_images(images_dir), args.image_size, args.fit,
                    args.overwrite)
    require_downloaded(layout.images, labels, images_dir)  # before anything is written
    plan = make_plan(read_rows(args.csv, args.limit), dic, labels, removed_entries(data),
                     layout)
    counts, errors = plan.counts, plan.errors
    moved = move_stale_folders(data.tag_folders, dic, data.replaced_tag_folders)
    for folder in {tag_to_folder(t) for t in dic}:
        (data.tag_folders / folder).mkdir(parents=True, exist_ok=True)
    data.resized.mkdir(parents=True, exist_ok=True)
    counts["relinked"] = link_done(plan.links)
    counts["relabelled"] = plan.relabelled
    with bar(len(plan.jobs), "deal", "img", disable=no_bar or None) as progress:
        def on_done(job, error):
            progress.update(1)
            counts["failed" if error else "resized"] += 1
            if error:
                errors.append((job.row, job.id, job.src, error))
                labels.pop(job.id, None)
            else:  # recorded only once done, so an interrupted run's rest is redone
                labels[job.id] = (data.resized_name(job.id), job.tags)
        try:
            run_jobs(plan.jobs, args.workers, on_done)
        finally:
            write_labels(data.labels, labels)
            with atomic_csv_writer(data.deal_errors, ("row", "id", "path", "reason")) as writer:
                writer.writerows(sorted(errors))
            # the size and fit of images that now exist (also when a killed run made them all)
            if counts["resized"] or counts["already done"]:
                cli.save_args(data.deal_args, args)
    print(summary(counts, errors, len(dic), moved, data))
    return counts


def summary(counts, errors, n_folders, moved, data):
    """The run's one summary line."""
    text = (f"resized {counts['resized']:,} images into {n_folders} tag folders under "
            f"{data.tag_folders}, already done {counts['already done']:,}, "
            f"not downloaded {counts['not downloaded']:,}, "
            f"without a dictionary tag {counts['no dictionary tag']:,}")
    if counts["relabelled"] or counts["relinked"]:
        text += (f"; relabelled {counts['relabelled']:,} images from the dictionary and linked "
                 f"{counts['relinked']:,} entries of images already resized into their folders")
    if moved:
        text += (f"; moved {len(moved)} folders of tags no longer in the dictionary to "
                 f"{data.replaced_tag_folders}")
    if errors:
        text += f", skipped {len(errors):,} (see {data.deal_errors})"
    return text


if __name__ == "__main__":
    main()
