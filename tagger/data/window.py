"""The row window: how many CSV rows download.py, set_dic.py and deal.py read.

One default for the three (DEFAULT_ROW_LIMIT, 100,000 rows), and download.py records the
one it used in DATA_DIR/download_args.json, so set_dic.py and deal.py count and resize the
very rows whose pictures were fetched: no downloaded picture is left unused, and no tag is
counted over rows that were never fetched. An explicit --limit still wins, with one line
saying how it differs from the recorded window.
"""
import sys

from ..core import cli
from ..core.folders import DEFAULT_ROW_LIMIT, DataFolder


def add_limit(parser):
    """--limit N, shared by download.py, set_dic.py and deal.py."""
    parser.add_argument("--limit", type=cli.non_negative_int, default=None,
                        help=f"CSV rows to read; 0 = all (default: the window download.py "
                             f"recorded in DATA_DIR/download_args.json, else "
                             f"{DEFAULT_ROW_LIMIT:,})")


def rows(limit):
    """A window as a person reads it."""
    return "every row" if limit == 0 else f"the first {limit:,} rows"


def resolve_limit(args, stage):
    """Fill args.limit left unset with the recorded window (else the default); when it was
    given and differs from the recorded one, say in one line (stderr) what that means for
    `stage` ("download", "set_dic" or "deal"). Returns args.limit."""
    recorded = DataFolder(args.data_dir).download_setting("limit", None)
    if args.limit is None:
        args.limit = DEFAULT_ROW_LIMIT if recorded is None else recorded
    elif recorded is not None and args.limit != recorded:
        print(f"note: {_difference(stage, args.limit, recorded)}", file=sys.stderr)
    return args.limit


def _difference(stage, limit, recorded):
    """The one line an explicit --limit other than the recorded window earns."""
    if stage == "download":
        return (f"download.py read {rows(recorded)} before; now {rows(limit)}, which "
                f"set_dic.py and deal.py will read too")
    wider = limit == 0 or (recorded != 0 and limit > recorded)
    what = "counting tags over" if stage == "set_dic" else "resizing"
    return (f"{what} {rows(limit)}, where download.py fetched {rows(recorded)}"
            + ("; the rows past those count as not downloaded" if wider and stage == "deal"
               else ""))
