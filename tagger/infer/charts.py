"""The evaluation charts test.py writes: a pie of correct and wrong top-k tags, AP bars, PR curves.

matplotlib is imported inside each function: drawing tags on pictures needs none of it."""
import math
from pathlib import Path

import numpy as np

from ..core.files import atomic_path
from ..core.render import score_text


def _save_figure(fig, path):
    """Save a matplotlib Figure to `path`, which appears only once complete."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")


def save_pie(correct, incorrect, path, title="Correct and incorrect predictions"):
    """Save a pie chart of `correct` against `incorrect` (counts or fractions) to `path`."""
    values = [float(correct), float(incorrect)]
    if not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise ValueError(f"a pie chart needs non-negative numbers with a positive total, "
                         f"got correct={correct}, incorrect={incorrect}")
    from matplotlib.figure import Figure  # charts only: drawing tags needs no matplotlib

    fig = Figure(figsize=(5, 5), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    shown = [(v, name, colour) for v, name, colour in
             zip(values, ("Correct", "Incorrect"), ("#2e9d4f", "#d6453d")) if v > 0]
    values, labels, colours = zip(*shown)  # an empty wedge would only put its label askew
    _, _, percentages = ax.pie(
        values, labels=labels, colors=colours,
        autopct=lambda pct: f"{pct:.1f}%" if pct > 0 else "", pctdistance=0.7, startangle=90,
        counterclock=False, wedgeprops={"edgecolor": "white", "linewidth": 2},
        textprops={"fontsize": 13})
    for text in percentages:
        text.set(color="white", fontweight="bold")
    ax.set_title(title, fontsize=14)
    ax.axis("equal")
    _save_figure(fig, path)


def save_ap_bars(tags, aps, path):
    """Save a horizontal bar chart of each tag's average precision, best at the top, to `path`."""
    if len(tags) != len(aps) or not len(tags):
        raise ValueError(f"need one AP per tag, got {len(tags)} tags and {len(aps)} APs")
    aps = np.asarray(aps, dtype=np.float64)
    order = sorted(range(len(aps)), key=lambda i: aps[i] if math.isfinite(aps[i]) else -1.0)
    shown = [0.0 if not math.isfinite(aps[i]) else aps[i] for i in order]
    mean_ap = float(np.nanmean(aps)) if np.isfinite(aps).any() else float("nan")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.4 + 0.27 * len(order)), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(range(len(order)), shown, color="#3a7dc9", height=0.72)
    ax.bar_label(bars, labels=[score_text(aps[i]) for i in order], padding=3, fontsize=8)
    ax.axvline(mean_ap, color="#555555", linestyle="--", linewidth=1, label=f"mAP {mean_ap:.3f}")
    ax.set_yticks(range(len(order)), [str(tags[i]) for i in order], fontsize=9)
    ax.set(xlim=(0, 1.1), ylim=(-0.6, len(order) - 0.4), xlabel="Average precision")
    ax.set_title(f"Average precision per tag: mAP {mean_ap:.3f} over {len(order)} tags")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    _save_figure(fig, path)


def save_pr_curves(curves, path, max_curves=12):
    """Save precision-recall curves for the first `max_curves` tags of `curves` plus "micro".

    `curves` maps a tag (or "micro", drawn thick and dashed) to (precision, recall) arrays,
    the order sklearn's precision_recall_curve returns them in.
    """
    names = [name for name in curves if name != "micro"][:max_curves]
    if not names and "micro" not in curves:
        raise ValueError("no precision-recall curves to draw")
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.5, 6), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    palette = matplotlib.colormaps["tab10"]
    for i, name in enumerate(names):  # ten colours, then the same ten with another line style
        precision, recall = _curve(curves[name], name)
        ax.plot(recall, precision, color=palette(i % 10), linestyle=("-", "-.", ":")[i // 10 % 3],
                linewidth=1.6, label=str(name), drawstyle="steps-post")
    if "micro" in curves:
        precision, recall = _curve(curves["micro"], "micro")
        ax.plot(recall, precision, color="black", linewidth=2.6, linestyle="--",
                label="micro (all tags)", drawstyle="steps-post")
    others = len(curves) - len(names) - ("micro" in curves)
    title = "Precision-recall curves"
    if others:
        title += f" ({len(names)} tags shown, {others} more)"
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="Recall", ylabel="Precision", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9, frameon=False)
    _save_figure(fig, path)


def _curve(pair, name):
    """Check and return one (precision, recall) pair as 1-D float arrays."""
    precision, recall = (np.asarray(a, dtype=np.float64).ravel() for a in pair)
    if len(precision) != len(recall) or not len(precision):
        raise ValueError(f"curve {name!r}: precision has {len(precision)} points, "
                         f"recall {len(recall)}; both need the same non-zero length")
    return precision, recall
