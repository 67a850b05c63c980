"""Command-line pieces shared by the scripts, so flag names and defaults cannot drift."""
import argparse
import json
import os
import sys
from pathlib import Path

from .fsutil import atomic_path

DEFAULT_IMAGE_SIZE = 100  # pixels, the original project's input size


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Show every flag's default and keep the docstring's example commands as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def positive(text):
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def positive_or_zero(text):
    """An argparse type: an integer of at least 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def make_parser(doc):
    """An ArgumentParser whose description is the script's docstring."""
    return argparse.ArgumentParser(description=doc, formatter_class=Formatter)


def add_data_dir(parser):
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="folder that holds every stage's input and output")


def add_csv(parser):
    parser.add_argument("--csv", type=Path, default=None,
                        help="the Safebooru metadata CSV (default: DATA_DIR/all_data.csv)")


def add_dic(parser):
    parser.add_argument("--dic", type=Path, default=None,
                        help="tag dictionary, one tag per line (default: DATA_DIR/dic.txt; "
                             "the repository's dic.txt holds the original 38 tags)")


def add_image_size(parser):
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE,
                        help="side of the square images, in pixels")


def add_seed(parser):
    parser.add_argument("--seed", type=int, default=0, help="random seed")


def add_workers(parser, default, what="parallel workers"):
    parser.add_argument("--workers", type=int, default=default, help=what)


def add_overwrite(parser, what="redo work already done instead of skipping it"):
    parser.add_argument("--overwrite", action="store_true", help=what)


def default_workers():
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def resolve(args):
    """Fill the data-dir-relative defaults of --csv and --dic in place; return args."""
    if getattr(args, "csv", "unset") is None:
        args.csv = args.data_dir / "all_data.csv"
    if getattr(args, "dic", "unset") is None:
        args.dic = args.data_dir / "dic.txt"
    return args


def fail(message, code=2):
    """Print an error a person can act on and exit, without a traceback."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def args_dict(args):
    """The parsed arguments as JSON-ready values (paths as strings), as args.json holds them."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def save_args(path, args):
    """Record how a folder was made (args.json)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(args_dict(args), indent=2, sort_keys=True) + "\n")


def add_run(parser, default="runs/tagger"):
    parser.add_argument("--run", type=Path, default=Path(default),
                        help="run folder: model.keras, dic.txt, logs/, history.csv, split.csv")


def recorded_image_size(data_dir):
    """The image size deal.py recorded in DATA_DIR/deal_args.json, else the default."""
    return _deal_setting(data_dir, "image_size", DEFAULT_IMAGE_SIZE)


def recorded_fit(data_dir):
    """The --fit deal.py recorded in DATA_DIR/deal_args.json, else pad."""
    return _deal_setting(data_dir, "fit", "pad")


def _deal_setting(data_dir, key, default):
    path = Path(data_dir) / "deal_args.json"
    return json.loads(path.read_text()).get(key, default) if path.exists() else default
