"""Tests for tagger.train.metrics against small cases worked out by hand."""
import json
import math

import numpy as np
import pytest

from tagger.train import metrics


def reference_ap(labels, scores):
    """AP straight from its definition: sum over distinct thresholds of (R_n - R_{n-1}) * P_n."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, float)
    ap, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores), reverse=True):
        predicted = scores >= threshold
        true_pos = np.count_nonzero(predicted & labels)
        recall = true_pos / labels.sum()
        ap += (recall - previous_recall) * true_pos / predicted.sum()
        previous_recall = recall
    return ap


def test_average_precision_of_a_simple_ranking():
    # Ranked 1, 0, 1: precision 1/1 at the first hit, 2/3 at the second.
    assert metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx((1 + 2 / 3) / 2)


def test_average_precision_groups_tied_scores():
    # All scores equal: one threshold, precision 2/3 at recall 1, so AP = 2/3
    # (ranking the positives first would give 1, ranking them last 7/12).
    assert metrics.average_precision([1, 1, 0], [0.5, 0.5, 0.5]) == pytest.approx(2 / 3)
    # Thresholds 0.9: 0 of 1 right (R 0); 0.8: 2 of 3 right (R 2/3, P 2/3);
    # 0.3: 3 of 5 right (R 1, P 3/5). AP = 2/3 * 2/3 + 1/3 * 3/5 = 29/45.
    labels, scores = [0, 1, 1, 0, 1], [0.9, 0.8, 0.8, 0.3, 0.3]
    assert metrics.average_precision(labels, scores) == pytest.approx(29 / 45)


def test_average_precision_without_positives_is_nan():
    assert math.isnan(metrics.average_precision([0, 0, 0], [0.9, 0.2, 0.1]))


def test_per_tag_ap_matches_the_definition_on_random_tied_scores():
    rng = np.random.default_rng(0)
    labels = rng.random((60, 5)) < 0.3
    scores = np.round(rng.random((60, 5)), 1)  # one decimal place: many ties
    expected = [reference_ap(labels[:, t], scores[:, t]) for t in range(5)]
    np.testing.assert_allclose(metrics.per_tag_ap(labels, scores), expected)


def test_perfect_ranking_gives_map_one_and_tags_without_positives_are_skipped():
    y_true = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.3], [0.8, 0.7, 0.2], [0.2, 0.6, 0.9], [0.1, 0.2, 0.4]])
    ap = metrics.per_tag_ap(y_true, scores)
    assert ap[:2].tolist() == [1.0, 1.0] and math.isnan(ap[2])
    assert metrics.mean_average_precision(y_true, scores) == 1.0


def test_map_is_the_mean_over_tags_with_positives():
    # Tag 0 is [1, 0, 1] under 0.9/0.8/0.7 (AP 5/6); tag 1 ranks its positive first (AP 1).
    y_true = np.array([[1, 1], [0, 0], [1, 0]])
    scores = np.array([[0.9, 0.9], [0.8, 0.1], [0.7, 0.2]])
    assert metrics.mean_average_precision(y_true, scores) == pytest.approx((5 / 6 + 1) / 2)
    assert math.isnan(metrics.mean_average_precision(np.zeros((3, 2)), scores))


def test_precision_recall_curve_has_sklearn_layout():
    # Increasing thresholds 0.7, 0.8, 0.9: predictions >= each are 3, 2, 1 images holding
    # 2, 1, 1 positives, then the appended (precision 1, recall 0) end point.
    precision, recall, thresholds = metrics.precision_recall_curve([1, 0, 1], [0.9, 0.8, 0.7])
    np.testing.assert_allclose(thresholds, [0.7, 0.8, 0.9])
    np.testing.assert_allclose(precision, [2 / 3, 1 / 2, 1, 1])
    np.testing.assert_allclose(recall, [1, 0.5, 0.5, 0])


def test_precision_recall_curve_collapses_ties():
    # Distinct scores 0.4 and 0.8: >= 0.4 is 3 images, 1 positive; >= 0.8 is 2 images, 1 positive.
    precision, recall, thresholds = metrics.precision_recall_curve([0, 1, 0], [0.8, 0.8, 0.4])
    np.testing.assert_allclose(thresholds, [0.4, 0.8])
    np.testing.assert_allclose(precision, [1 / 3, 1 / 2, 1])
    np.testing.assert_allclose(recall, [1, 1, 0])


def micro_macro_case():
    """Tag A: 4 positives, all found. Tag B: 1 positive, missed, 1 false alarm. Tag C: empty."""
    y_true = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array(
        [[0.9, 0.2, 0.1], [0.8, 0.2, 0.1], [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.7, 0.1]]
    )
    return y_true, scores


def test_micro_and_macro_f1_differ_when_a_rare_tag_fails():
    # At 0.5: A has tp 4 (P = R = F1 = 1); B has tp 0, fp 1, fn 1 (all 0); C has nothing
    # to score and is left out of the macro means.
    # Micro: tp 4, fp 1, fn 1 -> P = R = F1 = 4/5. Macro: (1 + 0) / 2 = 1/2 each.
    result = metrics.precision_recall_f1(*micro_macro_case(), 0.5)
    assert result == pytest.approx({
        "micro_precision": 0.8, "micro_recall": 0.8, "micro_f1": 0.8,
        "macro_precision": 0.5, "macro_recall": 0.5, "macro_f1": 0.5,
    })


def test_per_tag_thresholds_and_inclusive_comparison():
    # B's threshold 0.3 now takes its 0.3 (a hit) and 0.7 (a false alarm): tp 1, fp 1, fn 0,
    # so P 1/2, R 1, F1 2/3. Micro: tp 5, fp 1, fn 0 -> P 5/6, R 1, F1 10/11.
    # Macro over A and B: P (1 + 1/2) / 2, R 1, F1 (1 + 2/3) / 2.
    result = metrics.precision_recall_f1(*micro_macro_case(), [0.5, 0.3, 0.5])
    assert result == pytest.approx({
        "micro_precision": 5 / 6, "micro_recall": 1.0, "micro_f1": 10 / 11,
        "macro_precision": 0.75, "macro_recall": 1.0, "macro_f1": 5 / 6,
    })


def test_no_predictions_counts_zero_over_zero_as_zero():
    # One positive, nothing predicted: precision 0/0 -> 0, recall 0/1, F1 0.
    result = metrics.precision_recall_f1([[1], [0]], [[0.2], [0.1]], 0.5)
    assert set(result.values()) == {0.0}


def test_wrong_number_of_thresholds_is_an_error():
    with pytest.raises(ValueError, match="one per tag"):
        metrics.precision_recall_f1(*micro_macro_case(), [0.5, 0.5])


def test_best_f1_thresholds_where_half_is_wrong():
    # Tag 0 never scores above 0.4, so 0.5 gives F1 0. Cutting at 0.3 keeps exactly the
    # two positives (F1 1); the midpoint to the next lower score 0.2 is 0.25.
    # Tag 1: all positive, best is to take everything, and the lowest score 0.1 is returned
    # as it is. Tag 2 has no positives and gets the default.
    y_true = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0]])
    scores = np.array([[0.4, 0.4, 0.3], [0.3, 0.3, 0.1], [0.2, 0.2, 0.1], [0.1, 0.1, 0.1]])
    thresholds = metrics.best_f1_thresholds(y_true, scores, default=0.6)
    np.testing.assert_allclose(thresholds, [0.25, 0.1, 0.6])
    assert metrics.precision_recall_f1(y_true[:, :1], scores[:, :1], 0.5)["micro_f1"] == 0.0
    # Tuned, tags 0 and 1 are perfect and tag 2 predicts nothing (left out of the mean).
    tuned = metrics.precision_recall_f1(y_true, scores, thresholds)
    assert tuned["macro_f1"] == 1.0


def test_best_f1_thresholds_prefers_the_higher_of_equal_cuts():
    # Labels 1, 0, 0, 1 under 0.8 > 0.6 > 0.4 > 0.2 (2 positives):
    # cut at 0.8: tp 1 of 1 predicted -> F1 2/(1+2) = 2/3; at 0.2: tp 2 of 4 -> 4/6 = 2/3.
    # Both tie; the higher cut wins, halfway down to 0.6.
    thresholds = metrics.best_f1_thresholds([[1], [0], [0], [1]], [[0.8], [0.6], [0.4], [0.2]])
    assert thresholds[0] == pytest.approx(0.7)


def test_breakeven_f1_where_the_prediction_count_matches():
    # Two true labels; the two highest scores are (0, 0) right and (0, 1) wrong:
    # precision 1/2 = recall 1/2, F1 1/2.
    assert metrics.breakeven_f1([[1, 0], [0, 1]], [[0.9, 0.8], [0.7, 0.6]]) == 0.5


def test_breakeven_f1_with_ties_takes_the_closer_side():
    # Two true labels. Threshold 0.6: 4 predicted, 1 right -> P 1/4, R 1/2 (gap 1/4).
    # Threshold 0.9: 1 predicted, 1 right -> P 1, R 1/2 (gap 1/2). Take 0.6: F1 2/(4+2).
    y_true = [[1, 0, 0], [0, 1, 0]]
    scores = [[0.9, 0.6, 0.6], [0.6, 0.2, 0.1]]
    assert metrics.breakeven_f1(y_true, scores) == pytest.approx(1 / 3)


def test_breakeven_f1_ignores_the_empty_match_of_zero_precision_and_recall():
    # Threshold 0.9 predicts one wrong label: P = R = 0, equal but meaningless.
    # Threshold 0.5 predicts all 4, both positives among them: F1 2*2/(4+2) = 2/3.
    y_true = [[0, 1], [1, 0]]
    scores = [[0.9, 0.5], [0.5, 0.5]]
    assert metrics.breakeven_f1(y_true, scores) == pytest.approx(2 / 3)
    assert math.isnan(metrics.breakeven_f1([[0, 0]], [[0.9, 0.5]]))


def test_precision_and_recall_at_k():
    # k = 2. Image 0 picks tags 0, 2: 1 hit of 2 true -> P 1/2, R 1/2.
    # Image 1 picks tags 3, 2: 1 hit of 1 true -> P 1/2, R 1.
    # Image 2 picks tags 0, 1: no hits, no true tags -> P 0, left out of recall.
    y_true = [[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    scores = [[0.9, 0.1, 0.8, 0.2], [0.1, 0.2, 0.3, 0.4], [0.5, 0.4, 0.3, 0.2]]
    precision, recall = metrics.precision_recall_at_k(y_true, scores, 2)
    assert precision == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert recall == pytest.approx((0.5 + 1) / 2)


def test_top_k_ties_go_to_the_lower_column():
    # All three scores equal and k = 1: tag 0 is taken, so the true tag 2 is missed.
    assert metrics.precision_recall_at_k([[0, 0, 1]], [[0.5, 0.5, 0.5]], 1) == (0.0, 0.0)
    with pytest.raises(ValueError, match="k must be"):
        metrics.precision_recall_at_k([[0, 0, 1]], [[0.5, 0.5, 0.5]], 4)


def test_top_k_credit_arithmetic():
    truth = {"blonde hair", "blue eyes", "smile", "long hair", "bow", "solo"}
    # 5 of 6 right: 5 * 0.25 = 1.25, capped at 1.
    top6 = ["blonde hair", "blue eyes", "smile", "long hair", "bow", "red eyes"]
    assert metrics.top_k_credit(truth, top6) == 1.0
    # 2 of 6 right: 2 * 0.25.
    top6 = ["blonde hair", "solo", "a", "b", "c", "d"]
    assert metrics.top_k_credit(truth, top6) == 0.5
    assert metrics.top_k_credit(truth, ["a", "b", "c", "d", "e", "f"]) == 0.0
    # A tag predicted twice counts once; credit and cap are parameters.
    assert metrics.top_k_credit({1, 2}, [1, 1, 3], credit=0.5) == 0.5
    assert metrics.top_k_credit({1, 2, 3}, [1, 2, 3], credit=0.5, cap=2.0) == 1.5


def test_top_k_scores_per_image():
    # 8 tags, k = 6, the top 6 are columns 0-5 in every row (scores fall left to right).
    # Row 0: 5 true tags among them -> 1.0 (capped); row 1: 2 -> 0.5; row 2: 0 -> 0.
    y_true = np.array([
        [1, 1, 1, 1, 1, 0, 1, 1],
        [0, 1, 0, 0, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1, 1],
    ])
    scores = np.tile(np.linspace(0.9, 0.2, 8), (3, 1))
    np.testing.assert_allclose(metrics.top_k_scores(y_true, scores, k=6), [1.0, 0.5, 0.0])


def test_top_k_scores_agree_with_top_k_credit():
    rng = np.random.default_rng(1)
    y_true = rng.random((30, 10)) < 0.4
    scores = np.round(rng.random((30, 10)), 1)
    vectorised = metrics.top_k_scores(y_true, scores, k=4, credit=0.3)
    for row in range(30):
        top4 = np.argsort(-scores[row], kind="stable")[:4]
        expected = metrics.top_k_credit(np.flatnonzero(y_true[row]), top4, credit=0.3)
        assert vectorised[row] == pytest.approx(expected)


def test_group_top1_accuracy():
    # Group = columns 0-2 (say blonde, black, red hair); column 3 is outside it.
    # Row 0: true 0, best in group 0 -> right. Row 1: true 1, best 2 -> wrong.
    # Row 2: two true in group -> skipped. Row 3: none true -> skipped.
    # Row 4: true 2, best in group 2 (column 3 scores higher but is not in the group) -> right.
    y_true = [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 1]]
    scores = [
        [0.9, 0.1, 0.2, 0.0],
        [0.1, 0.3, 0.6, 0.0],
        [0.5, 0.5, 0.1, 0.0],
        [0.4, 0.2, 0.1, 0.9],
        [0.1, 0.2, 0.3, 0.9],
    ]
    assert metrics.group_top1_accuracy(y_true, scores, [0, 1, 2]) == pytest.approx(2 / 3)


def test_group_top1_accuracy_is_nan_without_single_label_images():
    # Row 0 has two true tags in the group, row 1 none: nobody to score.
    y_true, scores = [[1, 1], [0, 0]], [[0.5, 0.2], [0.1, 0.3]]
    assert math.isnan(metrics.group_top1_accuracy(y_true, scores, [0, 1]))


def test_summary_collects_everything_as_json_numbers():
    y_true, scores = micro_macro_case()
    thresholds = metrics.best_f1_thresholds(y_true, scores)
    result = metrics.summary(y_true, scores, thresholds=thresholds, k=2)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert all(type(value) in (float, int) for value in result.values())
    assert result["map"] == metrics.mean_average_precision(y_true, scores)
    assert result["micro_f1"] == pytest.approx(0.8) and result["macro_f1"] == pytest.approx(0.5)
    # Tuned: A still perfect; B's best cut 0.3 gives F1 2/3 (see the per-tag test above).
    assert result["tuned_macro_f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert result["breakeven_f1"] == metrics.breakeven_f1(y_true, scores)
    assert (result["precision_at_k"], result["recall_at_k"]) == metrics.precision_recall_at_k(
        y_true, scores, 2
    )
    assert result["top_k_score"] == pytest.approx(np.mean(metrics.top_k_scores(y_true, scores, 2)))
    untuned = metrics.summary(y_true, scores)
    assert "tuned_micro_f1" not in untuned
    # The default k = 6 is more than the 3 tags here, so all 3 are taken.
    assert untuned["k"] == 3 and untuned["recall_at_k"] == 1.0


def test_mismatched_shapes_are_an_error():
    with pytest.raises(ValueError, match="one shape"):
        metrics.mean_average_precision(np.zeros((3, 2)), np.zeros((3, 3)))
