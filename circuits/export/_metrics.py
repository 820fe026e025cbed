"""Classification numbers shared by the scorers: precision, recall, F1 and the area under the ROC curve."""

from __future__ import annotations

import numpy as np

from ..base import lazy_module

stats = lazy_module("scipy.stats")


def f1_stats(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """``(precision, recall, f1)`` of boolean predictions against boolean labels.

    ``F1 = 2 TP / (predicted positives + actual positives)``; each number is NaN where its
    denominator is 0 (precision without a positive prediction, recall without a positive label,
    F1 without either).

    Example:
        >>> f1_stats(np.array([True, True, False, False]), np.array([True, False, True, False]))
        (0.5, 0.5, 0.5)
    """
    pred, truth = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    tp, n_pred, n_true = int(np.sum(pred & truth)), int(pred.sum()), int(truth.sum())
    precision = tp / n_pred if n_pred else float("nan")
    recall = tp / n_true if n_true else float("nan")
    f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else float("nan")
    return precision, recall, f1


def auroc(scores: np.ndarray, truth: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half; NaN without both classes.

    Example:
        >>> auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
        0.75
    """
    truth = np.asarray(truth, dtype=bool)
    n_pos = int(truth.sum())
    n_neg = truth.size - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    ranks = stats.rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
