"""Multi-label metrics in plain NumPy: AP/mAP, P/R/F1, tuned thresholds, top-k scores.

Shared conventions:
- `y_true` is an (n_images, n_tags) array of 0/1 (or bool); `scores` has the same shape
  and holds floats, normally in [0, 1].
- A tag is predicted for an image when its score is >= the threshold (as in sklearn's
  curves, where element i holds the predictions with score >= thresholds[i]).
- Ties are never broken at random: equal scores are grouped, and ranking ties (top-k,
  argmax) go to the lower column index.
"""
import numpy as np


def _check_pair(y_true, scores, ndim):
    """Return (bool labels, float scores) after checking their shapes and values."""
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or y_true.ndim != ndim:
        raise ValueError(
            f"y_true {y_true.shape} and scores {scores.shape} must be {ndim}-D arrays of one shape"
        )
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; check the model output before scoring it")
    return y_true.astype(bool), scores


def _divide(numerator, denominator):
    """Elementwise numerator / denominator, with 0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _counts_at_or_above(labels, scores, thresholds):
    """For one tag: (images with score >= t, positives among them) for each threshold t."""
    all_sorted = np.sort(scores)
    pos_sorted = np.sort(scores[labels])
    predicted = all_sorted.size - np.searchsorted(all_sorted, thresholds, side="left")
    true_pos = pos_sorted.size - np.searchsorted(pos_sorted, thresholds, side="left")
    return predicted, true_pos


def _column_ap(labels, scores):
    """AP of one tag from bool labels and float scores (1-D); NaN without positives."""
    pos_scores = scores[labels]
    if pos_scores.size == 0:
        return np.nan
    # Each positive adds 1/P recall at the threshold equal to its own score (its whole
    # tie group enters at once), so sklearn's sum of (R_n - R_{n-1}) * P_n is the mean
    # over positives of the precision at their own score.
    predicted, true_pos = _counts_at_or_above(labels, scores, pos_scores)
    return float(np.mean(true_pos / predicted))


def per_tag_ap(y_true, scores):
    """Average precision of each tag (column), NaN for tags without positives."""
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    labels, scores = np.ascontiguousarray(y_true.T), np.ascontiguousarray(scores.T)
    return np.array([_column_ap(labels[t], scores[t]) for t in range(len(scores))])


def average_precision(y_true_col, scores_col):
    """AP of one tag as in sklearn's average_precision_score; NaN without positives."""
    y_true_col, scores_col = _check_pair(y_true_col, scores_col, ndim=1)
    return _column_ap(y_true_col, scores_col)


def mean_average_precision(y_true, scores):
    """Mean of per-tag AP over tags with at least one positive; NaN if there are none."""
    ap = per_tag_ap(y_true, scores)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


def precision_recall_curve(y_true_col, scores_col):
    """(precision, recall, thresholds) of one tag, laid out as sklearn's (full curve).

    Thresholds are the distinct scores in increasing order; precision[i] and recall[i]
    are for predictions with score >= thresholds[i], and a final (1, 0) point is
    appended. As in sklearn, recall is 1 everywhere when the tag has no positives.
    """
    y_true_col, scores_col = _check_pair(y_true_col, scores_col, ndim=1)
    if scores_col.size == 0:
        raise ValueError("precision_recall_curve needs at least one image")
    thresholds = np.unique(scores_col)
    predicted, true_pos = _counts_at_or_above(y_true_col, scores_col, thresholds)
    precision = true_pos / predicted
    n_pos = np.count_nonzero(y_true_col)
    recall = true_pos / n_pos if n_pos else np.ones(thresholds.size)
    return np.append(precision, 1.0), np.append(recall, 0.0), thresholds


def _mean_or(values, empty):
    """Mean of `values` as a Python float, or `empty` when there are none."""
    return float(np.mean(values)) if np.size(values) else float(empty)


def _confusion(y_true, scores, thresholds):
    """Per-tag true positives, false positives and false negatives at `thresholds`."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim > 1 or (thresholds.ndim == 1 and thresholds.shape[0] != scores.shape[1]):
        raise ValueError(
            f"thresholds must be a scalar or one per tag ({scores.shape[1]}), "
            f"got shape {thresholds.shape}"
        )
    predicted = scores >= thresholds
    true_pos = np.count_nonzero(predicted & y_true, axis=0)
    false_pos = np.count_nonzero(predicted, axis=0) - true_pos
    false_neg = np.count_nonzero(y_true, axis=0) - true_pos
    return true_pos, false_pos, false_neg


def precision_recall_f1(y_true, scores, thresholds):
    """Micro and macro precision, recall and F1 with a scalar or per-tag threshold.

    Any 0/0 (no predictions, no positives) counts as 0. Macro values are means of the
    per-tag values over tags that have a positive or a prediction (0 if no tag does);
    macro F1 is the mean of per-tag F1, not the F1 of macro precision and recall.
    """
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    true_pos, false_pos, false_neg = _confusion(y_true, scores, thresholds)
    tp, fp, fn = true_pos.sum(), false_pos.sum(), false_neg.sum()
    active = (true_pos + false_pos + false_neg) > 0
    tag_precision = _divide(true_pos, true_pos + false_pos)[active]
    tag_recall = _divide(true_pos, true_pos + false_neg)[active]
    tag_f1 = _divide(2 * true_pos, 2 * true_pos + false_pos + false_neg)[active]
    return {
        "micro_precision": float(_divide(tp, tp + fp)),
        "micro_recall": float(_divide(tp, tp + fn)),
        "micro_f1": float(_divide(2 * tp, 2 * tp + fp + fn)),
        "macro_precision": _mean_or(tag_precision, 0.0),
        "macro_recall": _mean_or(tag_recall, 0.0),
        "macro_f1": _mean_or(tag_f1, 0.0),
    }


def _column_best_threshold(labels, scores, default):
    """The F1-maximising threshold of one tag, as described in best_f1_thresholds."""
    # F1 peaks at some positive's score: lowering the threshold to a score held only
    # by negatives adds false positives and no true positives.
    candidates = np.unique(scores[labels])
    if candidates.size == 0:
        return float(default)
    predicted, true_pos = _counts_at_or_above(labels, scores, candidates)
    f1 = 2 * true_pos / (predicted + np.count_nonzero(labels))
    chosen = candidates[candidates.size - 1 - np.argmax(f1[::-1])]  # highest of the best
    lower = scores[scores < chosen]
    if lower.size == 0:
        return float(chosen)
    lower = lower.max()
    midpoint = lower + (chosen - lower) / 2
    # Where rounding lands the midpoint on the lower score, keep the chosen score.
    return float(midpoint if midpoint > lower else chosen)


def best_f1_thresholds(y_true, scores, default=0.5):
    """Per-tag threshold that maximises that tag's F1 on this data; `default` without positives.

    The candidates are the tag's distinct scores; among equally good ones the highest
    wins. The returned threshold is the midpoint between the chosen score and the next
    lower distinct score (the same predictions here, with a margin on both sides for
    new data), or the chosen score itself when it is the tag's lowest score.
    """
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    labels, scores = np.ascontiguousarray(y_true.T), np.ascontiguousarray(scores.T)
    return np.array(
        [_column_best_threshold(labels[t], scores[t], default) for t in range(len(scores))]
    )


def _micro_counts_at(y_true, scores, threshold):
    """(predictions, true positives) over all tags at one global threshold."""
    predicted = scores >= threshold
    return int(np.count_nonzero(predicted)), int(np.count_nonzero(predicted & y_true))


def breakeven_f1(y_true, scores):
    """Micro F1 at the global threshold where micro precision meets recall; NaN without positives.

    Precision equals recall exactly when the number of predictions equals the number of
    true labels. Ties in the scores can make that count unreachable; then the two
    thresholds either side are tried and the one with precision closest to recall is
    used (a side with no correct predictions only if both have none).
    """
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    flat_scores = scores.ravel()
    n_pos = int(np.count_nonzero(y_true))
    if n_pos == 0:
        return float("nan")
    # The n_pos-th highest score: thresholding there predicts at least n_pos labels.
    at_or_below = np.partition(flat_scores, flat_scores.size - n_pos)[flat_scores.size - n_pos]
    candidates = [_micro_counts_at(y_true, scores, at_or_below)]
    above = flat_scores[flat_scores > at_or_below]
    if above.size:
        candidates.append(_micro_counts_at(y_true, scores, above.min()))
    useful = [c for c in candidates if c[1] > 0] or candidates
    predicted, true_pos = min(useful, key=lambda c: abs(c[1] / c[0] - c[1] / n_pos))
    return float(2 * true_pos / (predicted + n_pos))


def _top_k_hits(y_true, scores, k):
    """Number of true tags among each image's k highest-scoring tags (ties: lower column)."""
    n_tags = scores.shape[1]
    if not 1 <= k <= n_tags:
        raise ValueError(f"k must be between 1 and the number of tags ({n_tags}), got {k}")
    kth = np.partition(scores, n_tags - k, axis=1)[:, n_tags - k, None]
    above = scores > kth
    # Fill the places left after the strictly higher scores with the leftmost ties.
    tied = scores == kth
    places_left = k - np.count_nonzero(above, axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= places_left))
    return np.count_nonzero(chosen & y_true, axis=1)


def precision_recall_at_k(y_true, scores, k):
    """(precision@k, recall@k) averaged over images; recall skips images with no true tags."""
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    hits = _top_k_hits(y_true, scores, k)
    n_true = y_true.sum(axis=1)
    has_true = n_true > 0
    precision = _mean_or(hits / k, np.nan)
    recall = _mean_or(hits[has_true] / n_true[has_true], np.nan)
    return precision, recall


def top_k_credit(y_true_row_tags, predicted_top_k, credit=0.25, cap=1.0):
    """The original project's score for one image: `credit` per correct top-k tag, capped at `cap`.

    Both arguments are collections of tags (names or indices); a tag predicted twice
    counts once.
    """
    correct = len(set(y_true_row_tags) & set(predicted_top_k))
    return float(min(correct * credit, cap))


def top_k_scores(y_true, scores, k=6, credit=0.25, cap=1.0):
    """`top_k_credit` for every image at once, as a float array of length n_images."""
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    return np.minimum(_top_k_hits(y_true, scores, k) * credit, cap).astype(np.float64)


def group_top1_accuracy(y_true, scores, group_idx):
    """Share of images with exactly one true tag in the group whose top group score is that tag.

    `group_idx` lists the group's column indices (e.g. the hair colours). Equal top
    scores go to the first listed column. NaN when no image qualifies.
    """
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    group_idx = np.asarray(group_idx, dtype=np.intp)
    group_true = y_true[:, group_idx]
    single = group_true.sum(axis=1) == 1
    if not single.any():
        return float("nan")
    predicted = np.argmax(scores[single][:, group_idx], axis=1)
    actual = np.argmax(group_true[single], axis=1)
    return float(np.mean(predicted == actual))


def summary(y_true, scores, thresholds=None, k=6):
    """All headline metrics as a flat dict of Python numbers, ready for json.dump.

    Keys: map; micro/macro precision/recall/f1 at 0.5 (`micro_f1`, ...) and, when
    per-tag `thresholds` are given, the same with a `tuned_` prefix; breakeven_f1;
    precision_at_k, recall_at_k and top_k_score (mean `top_k_credit`) with `k`, which is
    lowered to the number of tags when it exceeds it.
    Undefined values (e.g. map with no positives) are NaN, which json writes as NaN.
    """
    y_true, scores = _check_pair(y_true, scores, ndim=2)
    k = min(int(k), scores.shape[1])
    result = {"map": mean_average_precision(y_true, scores)}
    result.update(precision_recall_f1(y_true, scores, 0.5))
    if thresholds is not None:
        tuned = precision_recall_f1(y_true, scores, thresholds)
        result.update({f"tuned_{name}": value for name, value in tuned.items()})
    result["breakeven_f1"] = breakeven_f1(y_true, scores)
    precision, recall = precision_recall_at_k(y_true, scores, k)
    result.update({"k": k, "precision_at_k": precision, "recall_at_k": recall})
    result["top_k_score"] = _mean_or(top_k_scores(y_true, scores, k), np.nan)
    return result
