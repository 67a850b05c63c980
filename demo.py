"""Run the whole pipeline on generated demo data: no Safebooru CSV or internet needed.

Draws a few thousand Safebooru-like anime thumbnails, serves them on 127.0.0.1, then runs
download.py, set_dic.py, deal.py, check.py, train.py, test.py and draw.py in order, as a
user would, and says where the results are. Everything goes under --out.

Examples:
  make demo                                         # creates .venv first if needed
  python demo.py --posts 6000 --out demo6k
"""
import shutil
import time

from tagger.core import cli


def parse_args(argv=None):
    parser = cli.make_parser(__doc__)
    parser.add_argument("--out", type=cli.Path, default=cli.Path("demo"),
                        help="folder for the demo's data, runs and drawings")
    parser.add_argument("--posts", type=cli.positive_int, default=3000, help="thumbnails to generate")
    parser.add_argument("--image-size", type=cli.positive_int, default=80, help="training input side, pixels")
    parser.add_argument("--epochs", type=cli.positive_int, default=18, help="training epochs")
    cli.add_seed(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier demo in --out (otherwise refused)")
    return parser.parse_args(argv)


def main(argv=None):
    from tagger.demo.pipeline import LocalServer, fresh_character, generate, run_stage, stage_commands

    args = parse_args(argv)
    out = args.out
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            cli.fail(f"{out} already holds a demo; pass --overwrite to replace it, or --out")
        shutil.rmtree(out)
    t0, log = time.time(), []
    # train.py's default recipe, shortened to fit a few minutes of CPU
    train_flags = ["--epochs", str(args.epochs), "--batch-size", "64", "--seed", str(args.seed)]
    print(f"generating {args.posts:,} anime thumbnails into {out / 'server'} ...", flush=True)
    with LocalServer(out / "server") as server:
        generate(out, args.posts, args.seed, server.url, size=128)
        log.append(("generate", time.time() - t0))
        true_tags = fresh_character(out / "fresh", args.seed)
        min_count = max(1, args.posts // 50)  # tags on more than 2% of the posts
        for argv in stage_commands(out, train_flags, args.image_size, min_count):
            run_stage(argv, log)
    caption = (out / "drawn" / "fresh_character.txt").read_text().strip().split(", ")
    report(out, log, true_tags, caption, time.time() - t0)


def report(out, log, true_tags, caption, seconds):
    """Where everything is, and how the fresh character was tagged."""
    right = sorted(set(true_tags) & set(caption))
    print(f"\nthe fresh character is drawn with: {' '.join(true_tags)}")
    print(f"the model tagged it:              {' '.join(caption)}")
    print(f"  {len(right)} of {len(true_tags)} true tags found, "
          f"{len(set(caption) - set(true_tags))} wrong")
    print("\n" + "  ".join(f"{name} {s:.0f}s" for name, s in log) + f"  total {seconds / 60:.1f} min")
    run = out / "runs" / "demo"
    print(f"""
results:
  report       {run / 'eval' / 'report.json'}
  pie chart    {run / 'eval' / 'pie.png'}  (and ap.png, pr.png beside it)
  drawn image  {out / 'drawn' / 'fresh_character_tags.png'}
  TensorBoard  {run / 'logs'}: open it with
               .venv/bin/tensorboard --logdir {out / 'runs'}   then http://localhost:6006""")


if __name__ == "__main__":
    main()
