"""train.py's settings: every training flag with its default, help text and check, in one place.

Light on purpose (no TensorFlow), so train.py can build its flags from TrainConfig and answer
--help at once. The flags every stage shares (--data-dir, --dic, --run, --seed, --overwrite)
come from tagger.core.cli, as in the other scripts.
"""
import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ..core import cli
from ..core.folders import DEFAULT_FIT

MODELS = ("seed_cnn", "resnet")
LOSSES = ("bce", "asl", "softmax")
# What each objective tracks, and which way is better.
MONITORS = {"val_loss": "min", "val_pr_auc": "max", "val_f1": "max", "val_accuracy": "max"}
GROUPS = ("Data", "Model", "Optimiser", "Augmentation", "Run")


def _flag(group, default, help, **argparse_kw):
    """A TrainConfig field that train.py offers as --NAME in the argument group `group`."""
    return dataclasses.field(default=default,
                             metadata={"group": group, "help": help, **argparse_kw})


@dataclass(frozen=True)
class TrainConfig:
    """How a run is trained: train.py's flags, their defaults, help texts and checks."""
    run: Path  # --run and --seed: the flags every stage shares (tagger.core.cli)
    seed: int
    image_size: int = _flag("Data", None, "input side in pixels (default: the one deal.py "
                            "recorded)", type=cli.positive_int)
    val_fraction: float = _flag("Data", 0.1, "ids for validation", type=cli.fraction)
    test_fraction: float = _flag("Data", 0.1, "ids held out from training and tuning, for "
                                 "test.py only", type=cli.fraction)
    allow_empty_tags: bool = _flag(
        "Data", False, "train even if a dictionary tag has no positive image in the training "
        "split (otherwise refused)", action="store_true")
    cache_mb: int = _flag("Data", 4096, "keep decoded images in memory when they fit in this "
                          "many MB", type=cli.non_negative_int)
    tfrecords: bool = _flag(
        "Data", False, "when the images do not fit --cache-mb, read them from TFRecord shards "
        "packed once into RUN/records instead of one file each (for shared or cloud file "
        "systems, where each open is slow)", action="store_true")
    model: str = _flag("Model", "resnet", "network: resnet, a compact residual network; "
                       "seed_cnn, the original 11-layer CNN", choices=MODELS)
    loss: str = _flag("Model", "bce", "bce: one sigmoid per tag, all of an image's tags "
                      "positive; asl: the same with the asymmetric loss of multi-label taggers; "
                      "softmax: one sample per image and tag folder, as the original did",
                      choices=LOSSES)
    label_smoothing: float = _flag("Model", 0.0, "move targets this far towards 0.5, in [0, 1)",
                                   type=cli.fraction)
    epochs: int = _flag("Optimiser", 30, "epochs to train; the cosine schedule spans them",
                        type=cli.positive_int)
    batch_size: int = _flag("Optimiser", 128, "images per step", type=cli.positive_int)
    lr: float = _flag("Optimiser", 2e-3, "Adam learning rate", type=cli.positive_float)
    schedule: str = _flag("Optimiser", "cosine", "learning rate: constant, or cosine decay "
                          "over --epochs", choices=("constant", "cosine"))
    warmup_epochs: float = _flag("Optimiser", 1.0, "linear warm-up from 0 to --lr first, with "
                                 "--schedule cosine", type=cli.non_negative_float)
    flip: bool = _flag("Augmentation", True, "random horizontal flips while training",
                       action=argparse.BooleanOptionalAction)
    shift: float = _flag("Augmentation", 0.1, "random shifts up to this fraction of the side "
                         "while training", type=cli.ranged(float, 0, 0.5))
    patience: int = _flag("Run", 20, "stop after this many epochs without improvement; "
                          "0 = never", type=cli.non_negative_int)
    monitor: str = _flag("Run", "val_loss", "validation number for early stopping and the "
                         "best model", choices=tuple(MONITORS))
    mixed_precision: str = _flag("Run", "auto", "float16 compute: auto = on GPUs only",
                                 choices=("auto", "on", "off"))
    fit: str = DEFAULT_FIT  # not a flag: how deal.py prepared the images (DataFolder.fit)

    @classmethod
    def from_args(cls, args):
        """The settings among parsed arguments (the others are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in vars(args).items() if k in names})

    def problem(self):
        """Why these settings cannot train together, or None."""
        if self.monitor == "val_accuracy" and self.loss != "softmax" or \
                self.monitor in ("val_pr_auc", "val_f1") and self.loss == "softmax":
            return f"--monitor {self.monitor} is not tracked with --loss {self.loss}"
        if self.val_fraction + self.test_fraction >= 1:
            return (f"--val-fraction {self.val_fraction} and --test-fraction "
                    f"{self.test_fraction} leave nothing to train on; their sum must be below 1")
        return None


def add_flags(groups):
    """Add every TrainConfig field that is a flag to its argument group (`groups`: name to
    group), in field order, as --kebab-case with the field's default."""
    for field in dataclasses.fields(TrainConfig):
        if "group" not in field.metadata:
            continue
        options = {k: v for k, v in field.metadata.items() if k != "group"}
        groups[field.metadata["group"]].add_argument(
            "--" + field.name.replace("_", "-"), default=field.default, **options)
