"""Export a trained run for use outside this project, each export checked against Keras.

Every export keeps the run's dic.txt, thresholds.csv and split.csv beside the model, so
tag.py, draw.py and test.py use it as they use the run (its tuned thresholds, its split).

Formats (--format):
  wd14         model.onnx + selected_tags.csv: the WD14 tagger layout that kohya-ss
               sd-scripts, the webui WD14 tagger extension and imgutils load (BGR 0..255,
               448x448 white square in; 4 rating columns, then the tags; an embedding)
  cl_tagger    model_optimized.onnx + tag_mapping.json: the cl_tagger layout, kohya's
               second one (NCHW BGR 448x448 scaled to [-1, 1] in; logits out, one per tag)
  onnx         the bare network as draw.py feeds it (RGB 0..255 at the run's size), with
               dic.txt and thresholds.csv: tag.py, draw.py and test.py run it without TensorFlow
  litert       model.tflite (LiteRT / TFLite) for phones and edge devices (tag.py runs it too)
  saved_model  a SavedModel with a serving signature in OUT/1, for TF Serving

Examples:
  python export.py --run runs/tagger --format wd14 --tuned   # -> runs/tagger/export/wd14
  python export.py --run runs/tagger --format onnx --out tagger-onnx
  python export.py --run runs/tagger --format litert --overwrite   # old export moved aside
  python export.py --run runs/tagger --format onnx --quantize int8  # 4x smaller, 1.6-1.8x faster
"""
from tagger.core import cli, quiet
from tagger.core.entry import stage
from tagger.core.progress import bar
from tagger.export.formats import FORMATS
from tagger.export.quantize import DEFAULT_CALIBRATION, MODES as QUANTIZE_MODES


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_run(parser, help="trained run folder (with model.keras)")
    parser.add_argument("old_run", nargs="?", type=cli.Path, help=cli.SUPPRESS)  # until 2027
    parser.add_argument("--format", choices=FORMATS, required=True, help="what to write")
    parser.add_argument("--out", type=cli.Path, default=None,
                        help="export folder (default: RUN/export/FORMAT); one that exists must "
                             "be empty or hold an earlier export")
    parser.add_argument("--tuned", action="store_true",
                        help="wd14 and cl_tagger: fold the run's per-tag thresholds into the "
                             "last bias, so the tool's one --threshold picks what draw.py "
                             "--tuned picks")
    parser.add_argument("--thresholds", choices=("none", "tuned"), help=cli.SUPPRESS)  # old
    parser.add_argument("--threshold", type=cli.ranged(float, 0, 1, low_open=True, high_open=True),
                        default=0.35,
                        help="with --tuned: the one threshold the tool will use (kohya's "
                             "--thresh, the webui's and imgutils' general threshold), which the "
                             "folded thresholds are shifted to; without --tuned the tool's own "
                             "threshold applies to the raw scores")
    cli.spell(parser, "--tool-threshold", "--threshold", deprecated=True)
    parser.add_argument("--resize", choices=("bicubic", "area"), default="bicubic",
                        help="wd14 and cl_tagger: how the graph shrinks 448 to the run's size: Pillow's "
                             "antialiased bicubic as in training (closest to draw.py), or an "
                             "exact area average")
    parser.add_argument("--quantize", choices=QUANTIZE_MODES, default="none",
                        help="onnx and wd14 only: int8 weights and activations (onnxruntime's "
                             "static quantisation), calibrated on the run's validation pictures")
    parser.add_argument("--calibration", type=cli.positive_int, default=DEFAULT_CALIBRATION,
                        help="--quantize int8: at most this many validation pictures calibrate "
                             "the activation ranges")
    cli.add_overwrite(parser, "replace an earlier export (it is moved to OUT/../replaced/)")
    quiet.add_verbosity(parser, "no progress bar and no self-check line: only the summary")
    args = parser.parse_args(argv)
    if args.old_run is not None:
        cli.note_renamed("export.py RUN", "export.py --run RUN")
        args.run = args.old_run
    if args.thresholds is not None:
        cli.note_renamed(f"--thresholds {args.thresholds}", "--tuned" if args.thresholds ==
                         "tuned" else "no flag")
        args.tuned = args.tuned or args.thresholds == "tuned"
    return args


@stage
def main(argv=None):
    args = parse_args(argv)
    with bar(None, "export", "step", disable=args.quiet or None) as progress:
        progress.set_postfix_str("loading TensorFlow", refresh=True)
        with quiet.keep_quiet(args.verbose):  # TensorFlow loads here: after --help and usage errors
            try:
                from tagger.export.build import export_run, steps
            except ImportError as exc:
                cli.fail(f"export.py converts with TensorFlow, which this Python lacks ({exc}): "
                         f"install it (pip install -r requirements.txt)")
        progress.reset(total=len(steps(args.quantize)))
        begun = []

        def step(name):  # the bar counts the steps done and names the one running
            progress.update(bool(begun))
            begun.append(name)
            progress.set_postfix_str(name, refresh=True)

        try:
            result = export_run(args.run, args.format, args.out,
                                "tuned" if args.tuned else "none", args.threshold,
                                args.overwrite, args.resize,
                                (lambda line: None) if args.quiet else progress.write, args.quantize,
                                args.calibration, step)
        except (OSError, ValueError) as exc:
            cli.fail(exc)
        progress.update(progress.total - progress.n)
    moved = f"; the earlier export is now {result.replaced}" if result.replaced else ""
    kind = f" ({args.quantize})" if args.quantize != "none" else ""
    print(f"exported {args.run} as {args.format}{kind} to {result.out} (max difference from "
          f"Keras {result.max_diff:.2e}){moved}")
    return result


if __name__ == "__main__":
    main()
