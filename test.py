"""Score a trained run on held-out images: the original top-k test and multi-label metrics.

By default the run's validation images (its test split if it has one); with --csv, the rows
of a Safebooru CSV whose thumbnails are in DATA_DIR/images and were not trained on.
Writes RUN/eval/: report.json, predictions.csv, pie.png, ap.png, pr.png.

Examples:
  python test.py --run runs/tagger                  # top-6, images with more than 15 tags
  python test.py --run runs/tagger --min-common 1 --top-k 3
  python test.py --run runs/tagger --csv data/new_posts.csv
"""
import numpy as np

from tagger import cli
from tagger.dataset import load_examples, read_split
from tagger.runs import load_run, prepare_batches
from tagger.safebooru import BadRow, CsvFormatError, read_rows


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_run(parser)
    parser.add_argument("--data-dir", type=cli.Path, default=None,
                        help="data folder (default: the one the run was trained on)")
    parser.add_argument("--csv", type=cli.Path, default=None,
                        help="score these rows instead of the run's validation split")
    parser.add_argument("--split", choices=("auto", "val", "test"), default="auto",
                        help="which held-out split; auto = test if the run has one, else val")
    parser.add_argument("--limit", type=int, default=0, help="images to score; 0 = all")
    parser.add_argument("--top-k", type=int, default=6, help="predictions credited per image")
    parser.add_argument("--min-common", type=int, default=15,
                        help="the top-k test keeps images with more than this many dictionary tags")
    parser.add_argument("--credit", type=float, default=0.25,
                        help="score per correct top-k tag, capped at 1.0 per image")
    parser.add_argument("--batch-size", type=int, default=256, help="images per predict call")
    parser.add_argument("--quiet", action="store_true", help="no line per image")
    return parser.parse_args(argv)


def held_out_split(run, data_dir, which, limit):
    """(ids, uint8 images, labels) of the run's held-out split, read as in training."""
    split = read_split(run.path / "split.csv")
    if which == "auto":
        which = "test" if "test" in split.values() else "val"
    examples = load_examples(data_dir, run.tags)
    chosen = examples.subset(np.array([split.get(int(i)) == which for i in examples.ids]))
    n = limit or len(chosen.ids)
    return chosen.ids[:n], chosen.paths[:n], chosen.labels[:n], which


def csv_rows(run, data_dir, csv_path, limit):
    """(ids, image batches, labels) of CSV rows that are downloaded and were not trained on."""
    from tagger.fetch import existing_images

    trained = {i for i, s in read_split(run.path / "split.csv").items() if s == "train"}
    images = existing_images(data_dir / "images")
    ids, sources, labels = [], [], []
    for row in read_rows(csv_path):
        if isinstance(row, BadRow) or row.id in trained or row.id not in images:
            continue
        ids.append(row.id)
        sources.append(str(data_dir / "images" / images[row.id]))
        labels.append([1.0 if t in row.tags else 0.0 for t in run.tags])
        if limit and len(ids) == limit:
            break
    skipped = []
    batches = prepare_batches(sources, run.image_size, run.fit, 256,
                              lambda i, e: skipped.append(i))
    return np.array(ids), batches, np.array(labels, np.float32).reshape(-1, len(run.tags)), skipped


def predict_batches(run, batches, n, batch_size):
    """Scores for every prepared image; rows of images that failed stay NaN."""
    from tagger.progress import bar

    scores = np.full((n, len(run.tags)), np.nan, np.float32)
    with bar(n, "predict", "img") as progress:
        for indices, arrays in batches:
            scores[indices] = run.predict(arrays, batch_size)
            progress.update(len(indices))
    return scores


def predict_split(run, paths, labels, batch_size):
    """Scores through the same tf.data decoding as training, batch by batch with a bar."""
    from tagger.dataset import make_dataset
    from tagger.progress import bar

    dataset = make_dataset(paths, labels, run.image_size, batch_size, training=False, cache=False)
    scores = []
    with bar(len(paths), "predict", "img") as progress:
        for images, _ in dataset:
            scores.append(run.predict(images.numpy(), batch_size))
            progress.update(len(scores[-1]))
    return np.concatenate(scores) if scores else np.zeros((0, len(run.tags)), np.float32)


def print_protocol(ids, scores, tags, keep, per_image, args):
    """The original output: a line per image and the total."""
    kept_ids, kept_scores = ids[keep], scores[keep]
    if not args.quiet:
        for post_id, s, acc in zip(kept_ids, kept_scores, per_image):
            top = [tags[j] for j in np.argsort(-s, kind="stable")[:args.top_k]]
            print(f"ID:{post_id}  ACC:{acc:.2f}  tags: {' '.join(top)}")
    if len(per_image):
        print(f"Total acc: {np.mean(per_image):.4f}  ({len(per_image):,} images with more than "
              f"{args.min_common} dictionary tags, top-{args.top_k}, {args.credit} per hit)")
    else:
        print(f"Total acc: n/a  (no image has more than {args.min_common} dictionary tags; "
              f"lower --min-common)")


def main(argv=None):
    from tagger.evaluate import score, top_k_protocol, write_eval

    args = parse_args(argv)
    try:
        run = load_run(args.run)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    data_dir = args.data_dir or cli.Path(run.settings["data_dir"])
    try:
        if args.csv:
            ids, batches, labels, skipped = csv_rows(run, data_dir, args.csv, args.limit)
            scores = predict_batches(run, batches, len(ids), args.batch_size)
            ok = ~np.isnan(scores).any(axis=1)
            ids, labels, scores, which = ids[ok], labels[ok], scores[ok], str(args.csv)
        else:
            ids, paths, labels, which = held_out_split(run, data_dir, args.split, args.limit)
            scores = predict_split(run, paths, labels, args.batch_size)
    except (OSError, CsvFormatError, ValueError) as exc:
        cli.fail(exc)
    if not len(ids):
        cli.fail(f"no held-out images to score in {which}")
    keep, per_image = top_k_protocol(labels, scores, args.min_common, args.top_k, args.credit)
    print_protocol(ids, scores, run.tags, keep, per_image, args)
    report = score(labels, scores, run.tags, run.thresholds, args.top_k)
    report.update(scored=which, top_k_protocol=float(np.mean(per_image)) if len(per_image) else None,
                  top_k_images=int(keep.sum()), min_common=args.min_common, credit=args.credit)
    write_eval(args.run / "eval", ids, labels, scores, run.tags, report, per_image, args.top_k)
    print(summary_line(report, args.run / "eval"))
    return report


def summary_line(r, out):
    text = (f"scored {r['images']:,} held-out images ({r['scored']}): mAP {r['map']:.3f}, "
            f"micro F1 {r['micro_f1']:.3f} at 0.5, {r['tuned_micro_f1']:.3f} at tuned "
            f"thresholds, P@{r['k']} {r['precision_at_k']:.3f}, R@{r['k']} {r['recall_at_k']:.3f}")
    for name in ("hair", "eye"):
        if f"{name}_colour_top1" in r:
            text += f", {name}-colour top-1 {r[f'{name}_colour_top1']:.3f}"
    return text + f"; wrote {out}/"


if __name__ == "__main__":
    main()
