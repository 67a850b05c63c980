"""Command-line pieces shared by the scripts, so flag names and defaults cannot drift."""
import argparse
import os
import sys
from pathlib import Path

from .entry import describe_os_error
from .folders import DEFAULT_IMAGE_SIZE, DataFolder, write_json
from .quiet import add_verbosity

SUPPRESS = argparse.SUPPRESS


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Show every flag's default and keep the docstring's example commands as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction):
            return text  # a switch: off unless given
        if action.default in (None, "", []):
            return text  # nothing to show; the help says what happens without it
        if isinstance(action.default, str) and (action.default.strip() != action.default
                                                or "," in action.default):
            return text + " (default: %(default)r)"  # ', ' shows as ', 
        return text + " (default: %(default)s)"


_NOTED = set()  # old spellings already noted in this process


class _Spelling(argparse.Action):
    """Another spelling of a flag: stores into the flag's own destination. A deprecated one
    prints a one-line note on stderr, once per process."""

    def __init__(self, option_strings, dest, canonical, deprecated, store, **kwargs):
        self.canonical, self.deprecated, self.store = canonical, deprecated, store
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        if self.deprecated:
            note_renamed(option_string, self.canonical)
        setattr(namespace, self.dest, self.store if self.nargs == 0 else values)


def note_renamed(old, new):
    """The one-line note for an old spelling that still works (once per process)."""
    if old not in _NOTED:
        _NOTED.add(old)
        print(f"note: {old} is now {new}; the old spelling works until the next release",
              file=sys.stderr)


def spell(parser, spelling, canonical, deprecated=False, store=None):
    """Accept `spelling` for the flag `canonical` (already added to `parser`), hidden from
    --help: kohya's underscore names (`deprecated=False`), or an old name that keeps working
    for one release with a note (`deprecated=True`). A switch's `store` is the value the
    spelling sets (default: the switch's own, e.g. True for store_true)."""
    action = parser._option_string_actions[canonical]  # argparse keeps no public index
    switch = action.nargs == 0
    if switch and store is None:
        store = action.const
    parser.add_argument(spelling, action=_Spelling, dest=action.dest, canonical=canonical,
                        deprecated=deprecated, store=store, nargs=0 if switch else action.nargs,
                        type=None if switch else action.type,
                        choices=None if switch else action.choices,
                        metavar=action.metavar, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)


def make_parser(doc):
    """An ArgumentParser whose description is the script's docstring."""
    return argparse.ArgumentParser(description=doc, formatter_class=Formatter,
                                   allow_abbrev=False)  # a prefix may not stand for a flag


def ranged(kind, low=None, high=None, low_open=False, high_open=False, what=None):
    """An argparse type: a `kind` (int or float) between `low` and `high` (each bound
    included unless open), so a bad value is refused with exit 2 before anything is written."""
    if what is None:
        noun = "an integer" if kind is int else "a number"
        what = (f"{noun} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
                if high is not None else f"{noun} {'>' if low_open else '>='} {low}")

    def check(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if value != value or too_low or too_high:  # value != value: NaN
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    return check


positive_int = ranged(int, 1, what="a positive integer")
non_negative_int = ranged(int, 0, what="an integer >= 0")
positive_float = ranged(float, 0, low_open=True, high=float("inf"), high_open=True,
                        what="a positive number")
non_negative_float = ranged(float, 0, high=float("inf"), high_open=True, what="a number >= 0")
fraction = ranged(float, 0, 1, high_open=True)  # a share of something: [0, 1)
probability = ranged(float, 0, 1)  # a score or a threshold: [0, 1]


def folder(text):
    """A folder path for argparse: one that exists as a file is refused (exit 2)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
    return path


def add_data_dir(parser):
    parser.add_argument("--data-dir", type=folder, default="data",
                        help="folder that holds every stage's input and output")


def add_csv(parser):
    parser.add_argument("--csv", type=Path, default=None,
                        help="the Safebooru metadata CSV (default: DATA_DIR/all_data.csv)")


def add_dic(parser):
    parser.add_argument("--dic", type=Path, default=None,
                        help="tag dictionary, one tag per line (default: DATA_DIR/dic.txt; "
                             "the repository's dic.txt holds the original 38 tags)")


def add_image_size(parser):
    parser.add_argument("--image-size", type=positive_int, default=DEFAULT_IMAGE_SIZE,
                        help="side of the square images, in pixels")


def add_seed(parser):
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed")


def add_workers(parser, default, what="parallel workers", zero_ok=False):
    if default == default_workers():  # the machine's, not a fixed number
        what += f" (default: one per core, {default} here)"
    parser.add_argument("--workers", type=non_negative_int if zero_ok else positive_int,
                        default=default, help=what)


def add_overwrite(parser, what="redo work already done instead of skipping it"):
    parser.add_argument("--overwrite", action="store_true", help=what)


def default_workers():
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def resolve(args):
    """Fill the data-dir-relative defaults of --csv and --dic in place; return args."""
    if getattr(args, "csv", "unset") is None:
        args.csv = DataFolder(args.data_dir).csv
    if getattr(args, "dic", "unset") is None:
        args.dic = DataFolder(args.data_dir).dic
    return args


def fail(message, code=2):
    """Print an error a person can act on and exit, without a traceback."""
    if isinstance(message, OSError):  # the file and what to do, not a bare "[Errno 2] ..."
        message = describe_os_error(message)
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def args_dict(args):
    """The parsed arguments as JSON-ready values (paths as strings), as args.json holds them."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def save_args(path, args):
    """Record how a folder was made (args.json)."""
    write_json(path, args_dict(args))


def add_run(parser, default="runs/tagger",
            help="run folder: model.keras, dic.txt, logs/, history.csv, split.csv"):
    parser.add_argument("--run", type=Path, default=Path(default), help=help)


def add_tagger(parser, default="runs/tagger", help=None):
    """--run (a run folder, an ONNX export or a WD14-layout folder) and --model FILE.onnx."""
    parser.add_argument("--run", type=Path, default=Path(default), help=help or (
        "run folder (model.keras); an export folder (onnx, wd14, cl_tagger, litert) or any "
        "WD-layout tagger folder; or an .onnx or .tflite file (exports need no TensorFlow)"))
    spell(parser, "--model", "--run", deprecated=True)  # until 2027


def add_pictures_and_choice(parser, verb):
    """The pictures, the tagger, and how tags are chosen (tag.py and draw.py); returns the
    group of choices, for a script to add its own."""
    parser.add_argument("inputs", nargs="+", type=Path, help="picture files or folders")
    add_tagger(parser)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--tuned", action="store_true",
                        help=f"{verb} the tags over the run's per-tag thresholds (the default)")
    choice.add_argument("--threshold", type=probability, default=None,
                        help=f"{verb} every tag scoring at least this")
    return choice


DEVICES = ("auto", "cpu", "cuda", "rocm", "coreml", "directml", "openvino")  # see tagger.infer.devices


def add_device(parser):
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where the network runs: an onnxruntime execution provider for "
                             "ONNX taggers (auto = the best installed), the CPU or the GPU for "
                             "Keras runs; a missing one is named, never silently replaced")


def add_decoding(parser, workers_what, batch_size):
    """How pictures are decoded and fed to the network (tag.py and draw.py)."""
    add_device(parser)
    parser.add_argument("--full-decode", action="store_true",
                        help="decode every picture at full size, exactly as deal.py prepared "
                             "training images (slower; docs/tagging.md says what it changes)")
    add_workers(parser, default_workers(), workers_what, zero_ok=True)
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help="pictures per network call")
    parser.add_argument("--max-pixels", type=non_negative_int, default=None,
                        help="refuse larger pictures (default: Pillow's limit); 0 = no limit")
    add_verbosity(parser)
