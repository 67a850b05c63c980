"""Download each post's picture (the thumbnail, preview_url, by default) of a Safebooru CSV.

The thumbnails go to DATA_DIR/images; --url-column sample_url fetches the ~850 px samples
into DATA_DIR/sample_images instead. The folder, the column and the row window (--limit) are
recorded in DATA_DIR/download_args.json, and set_dic.py, deal.py and check.py follow them.

Examples:
  python download.py                                # first 100,000 rows, 8 connections, 10/s
  python download.py --limit 0 --connections 4 --max-rps 2   # every row, more gently
  python download.py --url-column sample_url --data-dir data_samples   # ~850 px pictures
  python download.py --retry-failed                 # only the posts listed in download_errors.csv
"""
from collections import Counter
from dataclasses import dataclass, field

from tagger.core import cli, locks, quiet
from tagger.data import window
from tagger.core.entry import stage
from tagger.core.folders import DataFolder
from tagger.data.fetch import (ERROR_HEADER, LOOPBACK_WORKERS, POLITE_RPS, POLITE_WORKERS,
                          SERVER_DOWN, Downloader, FetchConfig, check_url, default_pace,
                          existing_images)
from tagger.core.files import atomic_csv_writer, read_csv_dicts
from tagger.core.progress import bar, count_lines
from tagger.data.safebooru import BadRow, CsvFormatError, open_csv, read_rows
from tagger.data.sources import MIB, URL_COLUMNS, choose_folder, recorded_column


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    cli.add_data_dir(parser)
    cli.add_csv(parser)
    parser.add_argument("--url-column", choices=tuple(URL_COLUMNS), default=None,
                        help="the CSV column to fetch: preview_url (thumbnails, at most 150 "
                             "px), sample_url (~850 px) or file_url, the full pictures (default: "
                             "the recorded one, else preview_url)")
    parser.add_argument("--out", type=cli.Path, default=None,
                        help="images folder, recorded in DATA_DIR/download_args.json for the "
                             "later stages (default: the recorded one, else DATA_DIR/images "
                             "for preview_url, DATA_DIR/sample_images for sample_url, "
                             "DATA_DIR/file_images for file_url)")
    window.add_limit(parser)
    parser.add_argument("--connections", type=cli.positive_int, default=None,
                        help=f"concurrent HTTP connections (default: {POLITE_WORKERS}, what a "
                             f"public server tolerates; {LOOPBACK_WORKERS} when the pictures "
                             f"are on this machine: localhost, 127.0.0.0/8, ::1)")
    cli.spell(parser, "--workers", "--connections", deprecated=True)
    parser.add_argument("--max-rps", type=cli.non_negative_float, default=None,
                        help=f"cap on requests per second over all connections; 0 = no cap "
                             f"(default: {POLITE_RPS:g}; none for this machine's addresses). "
                             f"A 429 or 503 with Retry-After slows it further")
    parser.add_argument("--retries", type=cli.non_negative_int, default=4,
                        help="retries on timeouts, connection errors, 429 and 5xx")
    parser.add_argument("--timeout", type=cli.positive_float, default=20.0, help="read timeout, seconds")
    parser.add_argument("--max-bytes", type=cli.positive_int, default=None,
                        help="largest body accepted, bytes (default: "
                             + ", ".join(f"{m // MIB} MiB for {c}" for c, (_, m)
                                         in URL_COLUMNS.items()) + ")")
    parser.add_argument("--stop-after", type=cli.non_negative_int, default=20,
                        help="stop when this many requests in a row failed the same way (no "
                             "answer, or the same 429/5xx) and none succeeded: the server is "
                             "down; 0 = never stop")
    parser.add_argument("--retry-failed", action="store_true",
                        help="retry only the posts listed in DATA_DIR/download_errors.csv")
    quiet.add_verbosity(parser, tensorflow=False)
    args = cli.resolve(parser.parse_args(argv))
    args.url_column = args.url_column or recorded_column(args.data_dir)
    args.out, refusal = choose_folder(args.data_dir, args.url_column, args.out)
    if refusal:
        parser.error(refusal)
    if args.max_bytes is None:
        args.max_bytes = URL_COLUMNS[args.url_column][1]
    window.resolve_limit(args, "download")
    return args


@dataclass
class Tally:
    """A download's bookkeeping: the progress bar, a count per outcome, the error rows, and
    which of them came since the last download (an outage's, if the server went down)."""
    progress: object
    counts: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    streak: list = field(default_factory=list)

    def skipped(self, outcome, error=None):
        """Count a row that is not downloaded, log its error if any, and tick."""
        self.counts[outcome] += 1
        if error:
            self.errors.append(error)
        self.progress.update(1)

    def done(self, post, reason):
        """Count a post the downloader finished, logging its failure reason if any."""
        self.progress.update(1)
        self.counts["failed" if reason else "downloaded"] += 1
        if reason:
            self.streak.append(len(self.errors))
            self.errors.append((post.row, post.id, post.url, reason))
        else:
            self.streak.clear()
        self.progress.set_postfix(ok=self.counts["downloaded"], failed=self.counts["failed"],
                                  refresh=False)

    def mark_server_down(self):
        """Mark the failures since the last download as an outage's, for a rerun to retry."""
        for i in self.streak:
            self.errors[i] = self.errors[i][:3] + (SERVER_DOWN + self.errors[i][3],)


def plan(rows, have, failed_before, retry_failed, tally):
    """Yield the posts to download; count, record and tick the rows that are skipped."""
    for row in rows:
        reason = None if isinstance(row, BadRow) else check_url(row.url)
        if isinstance(row, BadRow):
            tally.skipped("bad row", (row.row, row.id, row.url, f"bad row: {row.reason}"))
        elif reason:
            tally.skipped("bad row", (row.row, row.id, row.url, f"bad URL: {reason}"))
        elif row.id in have:
            tally.skipped("already present")
        elif row.id in failed_before and not retry_failed:
            tally.skipped("failed before", failed_before[row.id])
        elif row.id in failed_before or not retry_failed:
            yield row
        else:
            tally.progress.update(1)  # --retry-failed, and this row did not fail before


def choose_pace(args):
    """Fill in --connections and --max-rps left unset: polite, unless the CSV's first rows'
    pictures are all on this machine."""
    if args.connections is not None and args.max_rps is not None:
        return
    try:
        urls = [row.url for row, _ in zip(read_rows(args.csv, 0, args.url_column), range(200))
                if not isinstance(row, BadRow)]
    except CsvFormatError as exc:
        cli.fail(exc)
    workers, rps = default_pace(urls)
    args.connections = workers if args.connections is None else args.connections
    args.max_rps = rps if args.max_rps is None else args.max_rps
    print(f"{args.connections} connections" + (f", at most {args.max_rps:g} requests a second"
                                           if args.max_rps else ", no rate cap"))


@stage
def main(argv=None):
    args = parse_args(argv)
    no_bar = quiet.from_args(args)[1]
    args.data_dir.mkdir(parents=True, exist_ok=True)  # so a first download holds its lock too
    with locks.data_folder(args.data_dir):
        return download(args, no_bar)


def previous_failures(errors_path):
    """The rows an earlier run logged as failed, by id, for a rerun to skip: bad rows are
    found again, and rows that failed while the server was down are retried."""
    return {int(e["id"]): (e["row"], e["id"], e["url"], e["reason"])
            for e in read_csv_dicts(errors_path) if e["id"].isdigit()
            and not e["reason"].startswith(("bad ", SERVER_DOWN))}


def download(args, no_bar=False):
    """Download the CSV rows' thumbnails (main's work, with the data folder locked)."""
    data = DataFolder(args.data_dir)
    before = previous_failures(data.download_errors)
    have = existing_images(args.out)
    try:
        open_csv(args.csv, args.url_column)[0].close()  # fail now, not mid-run, on a missing or wrong file
    except CsvFormatError as exc:
        cli.fail(exc)
    choose_pace(args)
    config = FetchConfig(retries=args.retries, read_timeout=args.timeout,
                         max_bytes=args.max_bytes, max_rps=args.max_rps,
                         stop_after=args.stop_after)
    total = count_lines(args.csv)
    tally = Tally(bar(min(total, args.limit) if args.limit else total, "download", "row",
                      disable=no_bar or None))
    posts = plan(read_rows(args.csv, args.limit, args.url_column), have, before, args.retry_failed, tally)
    downloader = Downloader(args.out, config, args.connections)
    # where deal.py and test.py will look, even after a kill: it names an empty folder at worst
    data.record_download(cli.args_dict(args), args.out)
    try:
        downloader.run(posts, tally.done)
        if not downloader.breaker.tripped:
            # every row is done: the line count was an estimate
            tally.progress.total = tally.progress.n
            tally.progress.refresh()
    finally:
        tally.progress.close()
        if downloader.breaker.tripped:
            tally.mark_server_down()
        with atomic_csv_writer(data.download_errors, ERROR_HEADER) as writer:
            writer.writerows(sorted(tally.errors, key=lambda e: int(e[0] or 0)))
    print(summary(tally.counts, data.download_errors, args.out))
    if downloader.breaker.tripped:
        cli.fail(f"stopped early: {downloader.breaker.tripped}. The server looks down or is "
                 f"refusing us: check the URLs in {args.csv} and your connection (a server "
                 f"that answers 429 or 503 wants fewer --connections or a lower --max-rps), then run the "
                 f"same command to continue (rows that failed this way are tried again)",
                 code=1)
    return tally.counts


def summary(counts, errors_path, out):
    """The run's one summary line."""
    parts = [f"downloaded {counts['downloaded']:,} into {out}",
             f"already present {counts['already present']:,}",
             f"failed {counts['failed']:,}"]
    if counts["failed before"]:
        parts.append(f"not retried {counts['failed before']:,} that failed before "
                     f"(--retry-failed tries them again)")
    if counts["bad row"]:
        parts.append(f"skipped {counts['bad row']:,} bad rows")
    if counts["failed"] or counts["bad row"] or counts["failed before"]:
        parts.append(f"see {errors_path}")
    return ", ".join(parts)


if __name__ == "__main__":
    main()
