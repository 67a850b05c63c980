r"""Train the tagger on the images check.py left in DATA_DIR/anime_images.

Writes RUN/: model.keras (best validation epoch), dic.txt, args.json, split.csv,
history.csv, thresholds.csv, logs/ for TensorBoard and checkpoints/ to resume from.
Run the same command again after an interruption and it continues from the last epoch.

The defaults are the recipe measured best in docs/quality.md: the compact residual
network, one sigmoid per tag, Adam 2e-3 with a 1-epoch warm-up and cosine decay over
30 epochs, random flips and 10% shifts; 80% of the ids train, 10% validate (early
stopping, best epoch, per-tag thresholds) and 10% are held out for test.py.

On a cluster, set TF_CONFIG on every machine and run the same command on each (see README:
docs/cluster.md); `--local-workers 2` tries that on this machine.

Examples:
  python train.py                                   # the default recipe
  python train.py --local-workers 2                 # two workers of one cluster, here
  tensorboard --logdir runs                         # watch it
  python train.py --run runs/original --model seed_cnn --loss softmax --lr 1e-4 \
      --batch-size 200 --schedule constant --warmup-epochs 0 --shift 0 --epochs 400 \
      --val-fraction 0.2 --test-fraction 0          # the original student project
"""
import contextlib
import json
import sys
import time

import numpy as np

from tagger.core import cli, locks, quiet
from tagger.core.entry import stage
from tagger.core.folders import DataFolder, RunFolder
from tagger.core.tags import load_dic, save_dic
from tagger.data.stages import require_data_dir
from tagger.train.config import GROUPS, TrainConfig, add_flags
from tagger.train.dataset import load_examples, read_split, sample_table, split_ids, write_split
from tagger.train.distributed import cluster_from_env, run_local_workers


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    cli.add_data_dir(groups["Data"])
    cli.add_dic(groups["Data"])
    cli.add_run(groups["Run"])
    add_flags(groups)
    groups["Run"].add_argument(
        "--local-workers", type=cli.non_negative_int, default=0,
        help="train as a cluster of this many workers on this machine, to try multi-worker "
             "training; on many machines set TF_CONFIG instead")
    cli.add_seed(groups["Run"])
    cli.add_overwrite(groups["Run"], "start over; the old run folder is moved to "
                                     "RUN.replaced-<time>")
    quiet.add_verbosity(groups["Run"], "no progress bars: one line per epoch and the summary")
    args = cli.resolve(parser.parse_args(argv))
    require_data_dir(args.data_dir)
    data = DataFolder(args.data_dir)
    if args.image_size is None:
        args.image_size = data.image_size
    args.fit = data.fit  # how images are prepared for this model
    # test.py finds the data again from another folder; a resume from elsewhere is refused
    args.data_dir_absolute = args.data_dir.resolve()
    problem = TrainConfig.from_args(args).problem()
    if problem:
        parser.error(problem)
    return args


# Settings that change how a run is carried out, not what it makes; a resumed run may also
# change how long it trains.
HOW_IT_RUNS = {"overwrite", "cache_mb", "allow_empty_tags", "tfrecords"}
SETTINGS_THAT_MAY_CHANGE = HOW_IT_RUNS | {"epochs", "patience"}


def changed_settings(args, run, may_change):
    """The recorded settings of `run` that these `args` change, apart from `may_change`
    (flags newer than the run pass)."""
    before = run.settings
    now = json.loads(json.dumps(cli.args_dict(args)))  # tuples read back as lists
    return sorted(k for k in now if k not in may_change and before.get(k, now[k]) != now[k])


def check_run(args):
    """Refuse a run folder made with other settings; return False if it is already trained.

    Nothing is written here: the run folder is made (or moved aside) by start_run, once the
    inputs are known to be sound, so a failed attempt never blocks the next one."""
    run = RunFolder(args.run)
    if args.overwrite:
        return True
    if run.trained:
        changed = changed_settings(args, run, HOW_IT_RUNS) if run.args.exists() else []
        if changed:  # a finished run is not trained further (docs/training.md)
            cli.fail(f"{args.run} is already trained, with other settings ({', '.join(changed)}); "
                     f"pass --overwrite to train it again, or --run to name another run")
        print(f"{args.run} is already trained ({run.model.name}); pass --overwrite to train "
              f"again or --run to name another run")
        return False
    if run.args.exists():
        changed = changed_settings(args, run, SETTINGS_THAT_MAY_CHANGE)
        if changed:
            cli.fail(f"{args.run} was started with other settings ({', '.join(changed)}); give the "
                     f"same command to resume, --overwrite to start over, or another --run")
    return True


def start_run(args, tags, is_chief=True):
    """Move an old run aside with --overwrite, then record how this one is made. Only the
    chief of a cluster writes; the other workers keep their files in temporary places."""
    if not is_chief:
        return
    run = args.run
    if run.exists() and args.overwrite:
        aside = run.with_name(f"{run.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        run.rename(aside)
        print(f"moved the previous run to {aside}")
    run.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(run)
    cli.save_args(folder.args, args)
    save_dic(folder.dic, tags)


def refuse_empty_tags(tags, train, loss, allowed):
    """Exit 2 naming the dictionary tags without a positive training image, unless allowed."""
    targets = sample_table(train, loss)[1]
    empty = [t for t, n in zip(tags, targets.sum(axis=0)) if n == 0]
    if not empty:
        return
    names = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
    message = (f"{len(empty)} of {len(tags)} dictionary tags have no positive image in the "
               f"training split: {names}. The model could never learn them. Run deal.py again "
               f"if the dictionary changed since it ran, drop the tags from the dictionary, or "
               f"pass --allow-empty-tags to train anyway")
    if not allowed:
        cli.fail(message)
    print(f"warning: {message}", file=sys.stderr)


def split_examples(args, examples):
    """Load the id split of a resumed run, or make one (written by write_split later): every
    worker of a cluster makes the same one from --seed."""
    path = RunFolder(args.run).split
    if path.exists() and not args.overwrite:
        split = read_split(path)
        missing = [i for i in examples.ids if int(i) not in split]
        if missing:
            cli.fail(f"{len(missing)} images (id {missing[0]}, ...) are not in {path}; the data "
                     f"changed since this run started: use --overwrite or another --run")
    else:
        split = split_ids(examples.ids, args.val_fraction, args.test_fraction, args.seed)
    names = np.array([split.get(int(i), "none") for i in examples.ids])
    return split, {name: examples.subset(names == name) for name in ("train", "val", "test")}


@stage
def main(argv=None):
    args = parse_args(argv)
    # how to launch and what to print, not how the run is made
    local_workers = vars(args).pop("local_workers")
    loading, no_bars = quiet.from_args(args)
    if local_workers > 1:
        argv = list(sys.argv[1:] if argv is None else argv)
        code = run_local_workers(__file__, [*argv, "--local-workers", "0"], local_workers)
        if code:
            again = "the same command without --overwrite" if args.overwrite else "the same command"
            cli.fail(f"a worker failed (exit code {code}); give {again} to resume")
        return None
    try:
        cluster = cluster_from_env()
    except ValueError as exc:
        cli.fail(exc)
    # the chief holds the run folder's lock; the other workers of its cluster share the run
    with locks.run_folder(args.run) if cluster.is_chief else contextlib.nullcontext():
        return train(args, cluster, loading, no_bars)


def train(args, cluster, loading, no_bars=False):
    """Train the run (main's work, with the run folder locked by the chief); `loading`: the
    context to import TensorFlow in (tagger.core.quiet), `no_bars`: --quiet."""
    if not check_run(args):
        return None
    try:
        tags = load_dic(args.dic)
        examples = load_examples(args.data_dir, tags)
    except (OSError, ValueError) as exc:
        cli.fail(exc)
    if len(examples.ids) < 2:
        folders = DataFolder(args.data_dir).tag_folders
        cli.fail(f"only {len(examples.ids)} images under {folders}; run deal.py and check.py "
                 f"first")
    split, parts = split_examples(args, examples)
    if not len(parts["train"].ids) or not len(parts["val"].ids):
        cli.fail("the split left no training or no validation images; check --val-fraction")
    refuse_empty_tags(tags, parts["train"], args.loss, args.allow_empty_tags)
    start_run(args, tags, cluster.is_chief)  # the inputs are sound: only now is anything written
    if cluster.is_chief:
        write_split(RunFolder(args.run).split, split)
    with loading:  # TensorFlow loads only once the inputs are sound
        from tagger.train.trainer import fit_and_finish

    return fit_and_finish(TrainConfig.from_args(args), tags, parts, cluster, no_bars)


if __name__ == "__main__":
    main()
