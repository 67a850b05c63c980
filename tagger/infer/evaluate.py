"""Scoring a run on held-out images: the original top-k protocol and multi-label metrics."""
import json
import sys
import re

import numpy as np

from ..train import metrics
from . import charts
from ..core.files import atomic_csv_writer, atomic_path
from ..core.folders import EvalFolder

COLOURS = ("aqua black blonde blue brown gray grey green light_brown orange pink purple red "
           "silver white yellow").split()
_GROUPS = {"hair": re.compile(rf"^({'|'.join(COLOURS)})_hair$"),
           "eye": re.compile(rf"^({'|'.join(COLOURS)})_eyes$")}


def colour_groups(tags):
    """Column indices of the hair-colour and eye-colour tags (groups of two or more)."""
    groups = {name: [i for i, t in enumerate(tags) if rx.match(t)] for name, rx in _GROUPS.items()}
    return {name: idx for name, idx in groups.items() if len(idx) >= 2}


def scoring_thresholds(tagger, source):
    """The tagger's tuned thresholds; 0.5 for every tag, with a warning, when it has none."""
    if tagger.thresholds is not None:
        return tagger.thresholds
    print(f"warning: {source} has no thresholds.csv (train.py writes it when the run "
          f"finishes); the numbers 'at tuned thresholds' use 0.5 for every tag", file=sys.stderr)
    return np.full(len(tagger.tags), 0.5)


def top_k_protocol(y_true, scores, min_common, k, credit):
    """The original test: images with more than `min_common` tags, credit per correct top-k tag."""
    keep = y_true.sum(axis=1) > min_common
    k = min(k, y_true.shape[1])
    per_image = metrics.top_k_scores(y_true[keep], scores[keep], k=k, credit=credit)
    return keep, per_image


def score(y_true, scores, tags, thresholds, k):
    """Every number of the report, as plain floats."""
    report = metrics.summary(y_true, scores, thresholds, k=k)
    report["images"] = int(len(y_true))
    report["per_tag_ap"] = {t: float(a) for t, a in zip(tags, metrics.per_tag_ap(y_true, scores))}
    for name, idx in colour_groups(tags).items():
        report[f"{name}_colour_top1"] = float(metrics.group_top1_accuracy(y_true, scores, idx))
    return report


def write_eval(out, ids, y_true, scores, tags, report, protocol_scores, k):
    """report.json, predictions.csv and the charts, all written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    folder = EvalFolder(out)
    with atomic_path(folder.report) as tmp:
        tmp.write_text(json.dumps(clean_nans(report), indent=2, allow_nan=False) + "\n")
    header = ("id", "true_tags", "top_predictions")
    with atomic_csv_writer(folder.predictions, header) as writer:
        for i, post_id in enumerate(ids):
            top = np.argsort(-scores[i], kind="stable")[:k]
            writer.writerow((int(post_id), " ".join(tags[j] for j in np.flatnonzero(y_true[i])),
                             " ".join(f"{tags[j]}:{scores[i, j]:.3f}" for j in top)))
    if protocol_scores is not None and len(protocol_scores):
        mean = float(np.mean(protocol_scores))
        charts.save_pie(mean, 1 - mean, folder.pie,
                        title=f"Top-{k} score over {len(protocol_scores):,} images")
    aps = report["per_tag_ap"]
    charts.save_ap_bars(list(aps), list(aps.values()), folder.ap)
    order = np.argsort([-np.nan_to_num(v) for v in aps.values()], kind="stable")
    curves = {tags[j]: metrics.precision_recall_curve(y_true[:, j], scores[:, j])[:2]
              for j in order if y_true[:, j].any()}
    charts.save_pr_curves(curves, folder.pr)


def clean_nans(obj):
    """Replace NaN floats by None so report.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: clean_nans(v) for k, v in obj.items()}
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def protocol_lines(ids, scores, tags, keep, per_image, top_k, min_common, credit, quiet):
    """The original output: a line per image (unless `quiet`) and the total."""
    lines = []
    if not quiet:
        for post_id, s, acc in zip(ids[keep], scores[keep], per_image):
            top = [tags[j] for j in np.argsort(-s, kind="stable")[:top_k]]
            lines.append(f"ID:{post_id}  ACC:{acc:.2f}  tags: {' '.join(top)}")
    if len(per_image):
        lines.append(f"Total acc: {np.mean(per_image):.4f}  ({len(per_image):,} images with more "
                     f"than {min_common} dictionary tags, top-{top_k}, {credit} per hit)")
    else:
        lines.append(f"Total acc: n/a  (no image has more than {min_common} dictionary tags; "
                     f"lower --min-common; no pie.png)")
    return lines


def summary_line(r, out):
    """test.py's closing line: the numbers a person reads, and where the report went."""
    text = (f"scored {r['images']:,} held-out images ({r['scored']}): mAP {r['map']:.3f}, "
            f"micro F1 {r['micro_f1']:.3f} at 0.5, {r['tuned_micro_f1']:.3f} at tuned "
            f"thresholds, P@{r['k']} {r['precision_at_k']:.3f}, R@{r['k']} {r['recall_at_k']:.3f}")
    for name in ("hair", "eye"):
        if f"{name}_colour_top1" in r:
            text += f", {name}-colour top-1 {r[f'{name}_colour_top1']:.3f}"
    return text + f"; wrote {out}/"
