"""Score a trained run on held-out images: the original top-k test and multi-label metrics.

By default the run's held-out test images (its validation split if it has no test split);
with --csv, the rows of a Safebooru CSV whose thumbnails are downloaded and were not trained on.
Writes RUN/eval/: report.json, predictions.csv, pie.png, ap.png, pr.png.

Examples:
  python test.py --run runs/tagger                  # top-6, images with more than 3 tags
  python test.py --run runs/tagger --min-common 1 --max-tags 3
  python test.py --run runs/tagger --csv data/new_posts.csv
  python test.py --run runs/tagger/export/onnx      # the ONNX export, with onnxruntime

--run takes a run folder or an export of one (onnx, wd14, litert: export.py keeps the run's
split and thresholds beside it), scored exactly as the run; a tagger trained elsewhere (a public
WD14 tagger) has no held-out split, and is refused in one line.
"""

import numpy as np

from tagger.core import cli, locks, quiet
from tagger.core.entry import stage
from tagger.core.folders import RunFolder
from tagger.core.progress import bar
from tagger.data.safebooru import CsvFormatError
from tagger.infer import heldout
from tagger.infer.session import FAILURES, Choice, Decoding, TaggingSession


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_tagger(parser, help="run folder (model.keras), or an export of one (onnx, wd14, "
                   "cl_tagger, litert), or its .onnx file; a public WD tagger has no held-out "
                   "split to score")
    parser.add_argument("--data-dir", type=cli.folder, default=None,
                        help="data folder (default: the one the run was trained on)")
    parser.add_argument("--csv", type=cli.Path, default=None,
                        help="score these rows instead of the run's held-out split")
    parser.add_argument("--split", choices=("auto", "val", "test"), default="auto",
                        help="which held-out split; auto = test if the run has one, else val")
    parser.add_argument("--limit", type=cli.non_negative_int, default=0, help="images to score; 0 = all")
    parser.add_argument("--max-tags", type=cli.positive_int, default=6,
                        help="the top-k test's k: predictions credited per image")
    cli.spell(parser, "--top-k", "--max-tags", deprecated=True)
    parser.add_argument("--min-common", type=cli.non_negative_int, default=3,
                        help="the top-k test keeps images with more than this many dictionary "
                             "tags: 3 lets 4 hits of 0.25 reach full credit; the original used 15")
    parser.add_argument("--credit", type=cli.probability, default=0.25,
                        help="score per correct top-k tag, capped at 1.0 per image")
    parser.add_argument("--batch-size", type=cli.positive_int, default=256, help="images per predict call")
    cli.add_device(parser)
    quiet.add_verbosity(parser)
    return parser.parse_args(argv)


@stage
def main(argv=None):
    args = parse_args(argv)
    # the folder test.py writes eval/ into: the run's, or the --model file's
    with locks.run_folder(args.run.parent if args.run.is_file() else args.run):
        return evaluate(args)


def evaluate(args):
    """Score the tagger (main's work, with its folder locked: it writes eval/ there)."""
    from tagger.infer.evaluate import (protocol_lines, score, scoring_thresholds, summary_line,
                                       top_k_protocol, write_eval)

    source = args.run
    decoding = Decoding(cli.default_workers(), args.batch_size, reduced=False)
    try:
        with TaggingSession(source, Choice(threshold=0, max_tags=args.max_tags), decoding,
                            verbose=args.verbose, device=args.device) as session:
            tagger = session.load()
            held, scores = score_held_out(args, session, tagger, source)
    except (*FAILURES, OSError, CsvFormatError, ValueError) as exc:
        cli.fail(exc)
    thresholds = scoring_thresholds(tagger, source)
    keep, per_image = top_k_protocol(held.labels, scores, args.min_common, args.max_tags, args.credit)
    for line in protocol_lines(held.ids, scores, tagger.tags, keep, per_image, args.max_tags,
                               args.min_common, args.credit, args.quiet):
        print(line)
    report = score(held.labels, scores, tagger.tags, thresholds, args.max_tags)
    report.update(scored=held.which, top_k_images=int(keep.sum()), min_common=args.min_common,
                  top_k_protocol=float(np.mean(per_image)) if len(per_image) else None,
                  credit=args.credit)
    out = RunFolder(tagger.path).eval
    write_eval(out, held.ids, held.labels, scores, tagger.tags, report, per_image, args.max_tags)
    print(summary_line(report, out))
    return report


def score_held_out(args, session, tagger, source):
    """(HeldOut, scores) of the pictures to score, decoded as in training, with a bar."""
    split = heldout.split_of(tagger, source)
    data = heldout.data_folder(tagger, args.data_dir)
    heldout.check_image_size(tagger, data)
    held = (heldout.csv_rows(tagger, split, data, args.csv, args.limit) if args.csv
            else heldout.held_out_split(tagger, split, data, args.split, args.limit))
    failed = []
    with bar(len(held.paths), "predict", "img", disable=args.quiet or None) as progress:
        def count(result):
            progress.update(1)
            if result.error:
                failed.append(result)
        scores = session.score(held.paths, count)
    if failed and not args.csv:
        raise ValueError(f"{failed[0].path}: not a readable image ({len(failed)} in all; "
                         f"{failed[0].error}); run check.py, which quarantines such images")
    held, scores = heldout.keep_scored(held, scores)
    if args.csv:
        line = heldout.left_out_line(held, args.csv)
        if line:
            print(line)
    if not len(held.ids):
        raise ValueError(f"no held-out images to score in {held.which}")
    return held, scores


if __name__ == "__main__":
    main()
