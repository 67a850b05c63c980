"""Score a trained run on held-out images: the original top-k test and multi-label metrics.

By default the run's validation images (its test split if it has one); with --csv, the rows
of a Safebooru CSV whose thumbnails are in DATA_DIR/images and were not trained on.
Writes RUN/eval/: report.json, predictions.csv, pie.png, ap.png, pr.png.

Examples:
  python test.py --run runs/tagger                  # top-6, images with more than 15 tags
  python test.py --run runs/tagger --min-common 1 --top-k 3
  python test.py --run runs/tagger --csv data/new_posts.csv
  python test.py --run runs/tagger/export/onnx      # the ONNX export, with onnxruntime
"""
import sys
from collections import Counter

import numpy as np

from tagger.core import cli, locks
from tagger.train.dataset import load_examples, read_split
from tagger.infer.backends import open_tagger
from tagger.core.entry import stage
from tagger.infer.onnx_run import OnnxRun
from tagger.infer.keras_run import prepare_batches, trained_data_dirs
from tagger.data.safebooru import BadRow, CsvFormatError, read_rows


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_tagger(parser)
    parser.add_argument("--data-dir", type=cli.folder, default=None,
                        help="data folder (default: the one the run was trained on)")
    parser.add_argument("--csv", type=cli.Path, default=None,
                        help="score these rows instead of the run's validation split")
    parser.add_argument("--split", choices=("auto", "val", "test"), default="auto",
                        help="which held-out split; auto = test if the run has one, else val")
    parser.add_argument("--limit", type=cli.non_negative_int, default=0, help="images to score; 0 = all")
    parser.add_argument("--top-k", type=cli.positive_int, default=6, help="predictions credited per image")
    parser.add_argument("--min-common", type=cli.non_negative_int, default=15,
                        help="the top-k test keeps images with more than this many dictionary tags")
    parser.add_argument("--credit", type=cli.probability, default=0.25,
                        help="score per correct top-k tag, capped at 1.0 per image")
    parser.add_argument("--batch-size", type=cli.positive_int, default=256, help="images per predict call")
    parser.add_argument("--quiet", action="store_true", help="no line per image")
    return parser.parse_args(argv)


def choose_data_dir(run, given):
    """--data-dir, else the data folder the run was trained on, wherever this runs from."""
    if given:
        return given
    recorded = trained_data_dirs(run.settings)
    for folder in recorded:
        if folder.is_dir():
            return folder
    where = " (" + ", ".join(map(str, recorded[1:])) + " from where train.py ran)" \
        if len(recorded) > 1 else ""
    cli.fail(f"{run.path} was trained on the data folder {recorded[0] if recorded else '?'}"
             f"{where}, which is not there from {cli.Path.cwd()}; pass --data-dir with that "
             f"folder (the one holding labels.csv and anime_images/)")


def check_image_size(run, data_dir):
    """Refuse a data folder whose images deal.py made at another size or fit than the run's."""
    trained_on = any(p.resolve() == data_dir.resolve() for p in trained_data_dirs(run.settings))
    if trained_on or not (data_dir / "deal_args.json").is_file():
        return  # the folder it trained on: train.py may have resized its images on purpose
    made = (cli.recorded_image_size(data_dir), cli.recorded_fit(data_dir))
    if made != (run.image_size, run.fit):
        cli.fail(f"{data_dir} holds {made[0]}x{made[0]} images ({made[1]}) but {run.path} was "
                 f"trained on {run.image_size}x{run.image_size} ({run.fit}); run deal.py with "
                 f"--image-size {run.image_size} --fit {run.fit} into another --data-dir, or "
                 f"pass the data folder the run was trained on")


def held_out_split(run, data_dir, which, limit):
    """(ids, uint8 images, labels) of the run's held-out split, read as in training."""
    if not (run.path / "split.csv").is_file():
        raise FileNotFoundError(f"{run.path}/split.csv not found: score the run folder or its "
                                f"onnx export (python export.py RUN --format onnx), which keep it")
    split = read_split(run.path / "split.csv")
    if which == "auto":
        which = "test" if "test" in split.values() else "val"
    examples = load_examples(data_dir, run.tags)
    chosen = examples.subset(np.array([split.get(int(i)) == which for i in examples.ids]))
    if not len(chosen.ids):
        cli.fail(f"no held-out images to score: none of the run's "
                 f"{list(split.values()).count(which):,} {which} images is among the "
                 f"{len(examples.ids):,} images of {data_dir} (labels.csv and anime_images/); "
                 f"pass --data-dir with the data folder {run.path} was trained on")
    n = limit or len(chosen.ids)
    return chosen.ids[:n], chosen.paths[:n], chosen.labels[:n], which


def csv_rows(run, data_dir, csv_path, limit, left_out):
    """(ids, image batches, labels) of CSV rows that are downloaded and were not trained on;
    the rows left out are counted in `left_out` by reason."""
    from tagger.data.fetch import existing_images

    trained = {i for i, s in read_split(run.path / "split.csv").items() if s == "train"}
    images_dir = cli.images_dir(data_dir)
    images = existing_images(images_dir)
    ids, sources, labels = [], [], []
    for row in read_rows(csv_path):
        reason = ("bad row" if isinstance(row, BadRow) else "trained on" if row.id in trained
                  else f"not downloaded (not in {images_dir})"
                  if row.id not in images else None)
        if reason:
            left_out[reason] += 1
            continue
        ids.append(row.id)
        sources.append(str(images_dir / images[row.id]))
        labels.append([1.0 if t in row.tags else 0.0 for t in run.tags])
        if limit and len(ids) == limit:
            break

    def unreadable(i, error):
        left_out["unreadable"] += 1

    batches = prepare_batches(sources, run.image_size, run.fit, 256, unreadable)
    return np.array(ids), batches, np.array(labels, np.float32).reshape(-1, len(run.tags))


def report_left_out(left_out, csv_path):
    """Print how many rows of the CSV were not scored, and why."""
    if left_out:
        reasons = ", ".join(f"{n:,} {why}" for why, n in left_out.most_common())
        print(f"left out {sum(left_out.values()):,} rows of {csv_path}: {reasons}")


def predict_batches(run, batches, n, batch_size):
    """Scores for every prepared image; rows of images that failed stay NaN."""
    from tagger.core.progress import bar

    scores = np.full((n, len(run.tags)), np.nan, np.float32)
    with bar(n, "predict", "img") as progress:
        for indices, arrays in batches:
            scores[indices] = run.predict(arrays, batch_size)
            progress.update(len(indices))
    return scores


def predict_split(run, paths, labels, batch_size):
    """Scores through the same tf.data decoding as training, batch by batch with a bar (an
    ONNX tagger: pictures prepared with Pillow as draw.py does, without TensorFlow)."""
    if isinstance(run, OnnxRun):
        failed = []
        batches = prepare_batches(paths, run.image_size, run.fit, batch_size,
                                  lambda i, e: failed.append(paths[i]))
        scores = predict_batches(run, batches, len(paths), batch_size)
        if failed:
            raise ValueError(f"{failed[0]}: not a readable image ({len(failed)} in all)")
        return scores
    from tagger.train.dataset import make_dataset
    from tagger.core.progress import bar

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


@stage
def main(argv=None):
    args = parse_args(argv)
    # the folder test.py writes eval/ into: the run's, or the --model file's
    with locks.run_folder(args.model.parent if args.model else args.run):
        return evaluate(args)


def evaluate(args):
    """Score the run (main's work, with the run folder locked: it writes RUN/eval)."""
    from tagger.infer.evaluate import score, top_k_protocol, write_eval

    try:
        run = open_tagger(args.model or args.run)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    data_dir = choose_data_dir(run, args.data_dir)
    check_image_size(run, data_dir)
    if run.thresholds is None:
        print(f"warning: {args.model or args.run} has no thresholds.csv (train.py writes it when the run "
              f"finishes); the numbers 'at tuned thresholds' use 0.5 for every tag",
              file=sys.stderr)
        run.thresholds = np.full(len(run.tags), 0.5)
    try:
        if args.csv:
            left_out = Counter()
            ids, batches, labels = csv_rows(run, data_dir, args.csv, args.limit, left_out)
            scores = predict_batches(run, batches, len(ids), args.batch_size)
            ok = ~np.isnan(scores).any(axis=1)
            ids, labels, scores, which = ids[ok], labels[ok], scores[ok], str(args.csv)
            report_left_out(left_out, args.csv)
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
    write_eval(run.path / "eval", ids, labels, scores, run.tags, report, per_image, args.top_k)
    print(summary_line(report, run.path / "eval"))
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
