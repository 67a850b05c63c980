"""Resize the downloaded thumbnails and group them into one folder per dictionary tag.

Each image is resized once to DATA_DIR/resized/<id>.jpg and hard-linked into
DATA_DIR/anime_images/<tag>/ for each of its dictionary tags; DATA_DIR/labels.csv lists
every image's dictionary tags (the multi-label ground truth).

Examples:
  python deal.py                                    # first 55,000 rows, 100x100, padded
  python deal.py --limit 0 --image-size 64 --fit stretch --workers 2
"""
import json
from collections import Counter

from tagger import cli
from tagger.entry import stage
from tagger.fetch import existing_images
from tagger.fsutil import atomic_csv_writer
from tagger.grouping import Job, read_labels, run_jobs, write_labels
from tagger.images import FITS
from tagger.progress import bar
from tagger.safebooru import BadRow, CsvFormatError, open_csv, read_rows
from tagger.tags import load_dic, tag_to_folder


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    cli.add_csv(parser)
    cli.add_dic(parser)
    cli.add_image_size(parser)
    parser.add_argument("--fit", choices=FITS, default="pad",
                        help="pad: keep the aspect ratio, pad to a square with white; "
                             "stretch: plain resize (the original)")
    parser.add_argument("--limit", type=int, default=55000, help="rows to read; 0 = all")
    cli.add_workers(parser, cli.default_workers(), "processes")
    cli.add_overwrite(parser, "resize again images already done")
    return cli.resolve(parser.parse_args(argv))


def plan(args, dic, labels, counts, errors):
    """Build the resize jobs for the CSV's rows, counting those that need none."""
    images = existing_images(args.data_dir / "images")
    wanted = set(dic)
    out, resized = args.data_dir / "anime_images", args.data_dir / "resized"
    jobs = []
    for row in read_rows(args.csv, args.limit):
        if isinstance(row, BadRow):
            errors.append((row.row, row.id, "", f"bad row: {row.reason}"))
            continue
        tags = tuple(t for t in row.tags if t in wanted)
        if not tags:
            counts["no dictionary tag"] += 1
        elif row.id not in images:
            counts["not downloaded"] += 1
        elif row.id in labels and not args.overwrite:
            counts["already done"] += 1
        else:
            dst = resized / f"{row.id}.jpg"
            links = tuple(str(out / tag_to_folder(t) / dst.name) for t in tags)
            jobs.append(Job(row.row, row.id, str(args.data_dir / "images" / images[row.id]),
                            str(dst), links, args.image_size, args.fit, tags))
    return jobs


def check_settings(args):
    """Refuse to mix image sizes or fits in one data folder unless --overwrite is given."""
    path = args.data_dir / "deal_args.json"
    settings = {"image_size": args.image_size, "fit": args.fit}
    if path.exists() and not args.overwrite:
        before = {k: json.loads(path.read_text()).get(k) for k in settings}
        if before != settings:
            cli.fail(f"{args.data_dir} holds images made with {before}, not {settings}; "
                     f"pass --overwrite to redo them all, or use another --data-dir")
    cli.save_args(path, args)


@stage
def main(argv=None):
    args = parse_args(argv)
    try:
        open_csv(args.csv)[0].close()
        dic = load_dic(args.dic)
    except (CsvFormatError, OSError, ValueError) as exc:
        cli.fail(exc)
    check_settings(args)
    labels_path = args.data_dir / "labels.csv"
    labels = read_labels(labels_path)
    counts, errors = Counter(), []
    jobs = plan(args, dic, labels, counts, errors)
    for folder in {tag_to_folder(t) for t in dic}:
        (args.data_dir / "anime_images" / folder).mkdir(parents=True, exist_ok=True)
    (args.data_dir / "resized").mkdir(parents=True, exist_ok=True)
    with bar(len(jobs), "deal", "img") as progress:
        def on_done(job, error):
            progress.update(1)
            counts["failed" if error else "resized"] += 1
            if error:
                errors.append((job.row, job.id, job.src, error))
                labels.pop(job.id, None)
            else:  # recorded only once done, so an interrupted run's rest is redone
                labels[job.id] = (f"resized/{job.id}.jpg", job.tags)
        try:
            run_jobs(jobs, args.workers, on_done)
        finally:
            write_labels(labels_path, labels)
            with atomic_csv_writer(args.data_dir / "deal_errors.csv",
                                   ("row", "id", "path", "reason")) as writer:
                writer.writerows(sorted(errors))
    print(summary(counts, errors, len(dic), args))
    return counts


def summary(counts, errors, n_folders, args):
    text = (f"resized {counts['resized']:,} images into {n_folders} tag folders under "
            f"{args.data_dir / 'anime_images'}, already done {counts['already done']:,}, "
            f"not downloaded {counts['not downloaded']:,}, "
            f"without a dictionary tag {counts['no dictionary tag']:,}")
    if errors:
        text += f", skipped {len(errors):,} (see {args.data_dir / 'deal_errors.csv'})"
    return text


if __name__ == "__main__":
    main()
