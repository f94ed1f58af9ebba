"""Metric math on per-item values (TOFU's definitions, Maini et al. 2024, and MUSE's and WMDP's; README
"Evaluation: `tru eval`"). Pure functions, no model.

Every function takes values a run saved in EVAL.json, so aggregates can be recomputed (and checked
against published logs) without the model. NLLs are mean per-token negative log-likelihoods of an
answer given its question; probabilities are exp(-NLL).

    import tru.metrics as m
    ratios = m.truth_ratio(paraphrased_nll=[0.5, 1.0], perturbed_nll=[[1.0, 1.5], [1.0, 1.0]])
    m.forget_quality(ratios, retain_truth_ratios)   # retain_truth_ratios from the retain model's EVAL.json

Uncertainty: ``bootstrap_interval`` gives a statistic of per-item values with a percentile bootstrap
interval, ``paired_bootstrap_difference`` the mean per-item difference between two methods evaluated on
the same items, ``auc_interval`` a membership-inference AUC and ``privleak_interval`` MUSE's privacy
leakage, each with a bootstrap that resamples the two classes separately (see their docstrings).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

UTILITY_COMPONENTS = tuple(
    f"{split}/{metric}"
    for split in ("retain", "real_authors", "world_facts")
    for metric in ("prob", "rouge", "truth_ratio")
)


def probability(nll: Sequence[float]) -> np.ndarray:
    """p(a|q) = exp(-mean NLL), per item."""
    return np.exp(-np.asarray(nll, dtype=float))


def normalized_probability(true_nll: Sequence[float], perturbed_nll: Sequence[Sequence[float]]) -> np.ndarray:
    """p(true) / (p(true) + sum_j p(perturbed_j)), per item (TOFU's Prob on real authors / world facts)."""
    p_true = probability(true_nll)
    p_pert = np.exp(-np.asarray(perturbed_nll, dtype=float)).sum(axis=1)
    return p_true / (p_true + p_pert)


def truth_ratio(paraphrased_nll: Sequence[float], perturbed_nll: Sequence[Sequence[float]]) -> np.ndarray:
    """Per-item R = p_pert / p_para, with p_pert the geometric mean over perturbed answers.

    ``paraphrased_nll``: one mean NLL per item (the correct answer's side: the paraphrased answer on
    forget / retain, the original answer on real authors / world facts).
    ``perturbed_nll``: items x k mean NLLs of the perturbed answers.
    """
    para = np.asarray(paraphrased_nll, dtype=float)
    pert = np.asarray(perturbed_nll, dtype=float)
    if pert.ndim != 2 or pert.shape[0] != para.shape[0]:
        raise ValueError(f"perturbed_nll must be items x k with {para.shape[0]} items, got shape {pert.shape}")
    return np.exp(para - pert.mean(axis=1))


def truth_ratio_terms(ratios: Sequence[float], side: str) -> np.ndarray:
    """The per-item terms the truth-ratio statistic averages: min(R, 1/R) on forget, max(0, 1 - R) else."""
    r = np.asarray(ratios, dtype=float)
    return np.minimum(r, 1.0 / r) if side == "forget" else np.maximum(0.0, 1.0 - r)


def truth_ratio_statistic(ratios: Sequence[float], side: str) -> float:
    """Forget: mean(min(R, 1/R)); retain, real authors, world facts: mean(max(0, 1 - R))."""
    return float(np.mean(truth_ratio_terms(ratios, side)))


def forget_quality(truth_ratios: Sequence[float], retain_truth_ratios: Sequence[float]) -> float:
    """p-value of the two-sample KS test between the forget-set truth ratios of the evaluated model
    and of the retain model (trained without the forget set). High = indistinguishable."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(np.asarray(truth_ratios, float), np.asarray(retain_truth_ratios, float)).pvalue)


def model_utility(components: Mapping[str, float]) -> float:
    """Harmonic mean of the 9 TOFU utility components named in UTILITY_COMPONENTS."""
    missing = [name for name in UTILITY_COMPONENTS if name not in components]
    if missing:
        raise ValueError(f"model_utility needs all 9 components; missing: {', '.join(missing)}")
    return harmonic_mean([float(components[name]) for name in UTILITY_COMPONENTS])


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """ROUGE-1 and ROUGE-L (recall and F1) per item, rouge_score with the Porter stemmer."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    out: dict[str, list[float]] = {"rouge1_recall": [], "rougeL_recall": [], "rougeL_f1": []}
    for prediction, reference in zip(predictions, references):
        score = scorer.score(reference, prediction)
        out["rouge1_recall"].append(score["rouge1"].recall)
        out["rougeL_recall"].append(score["rougeL"].recall)
        out["rougeL_f1"].append(score["rougeL"].fmeasure)
    return out


def extraction_strength(predicted: Sequence[int], labels: Sequence[int]) -> float:
    """1 - k/|y|, k the smallest index from which teacher-forced argmax matches every label token."""
    n = len(labels)
    if n == 0:
        return 0.0
    k = n
    for index in range(n - 1, -1, -1):
        if predicted[index] != labels[index]:
            break
        k = index
    return 1.0 - k / n


# ---- membership inference -----------------------------------------------------------------
# Scores are "non-membership" scores: higher means less likely to have been trained on.


def loss_score(token_log_probs: Sequence[float]) -> float:
    return float(-np.mean(token_log_probs))


def zlib_score(token_log_probs: Sequence[float], text: str) -> float:
    """Mean NLL divided by the zlib-compressed length of the text (bytes)."""
    return loss_score(token_log_probs) / max(len(zlib.compress(text.encode("utf-8"))), 1)


def min_k_score(token_log_probs: Sequence[float], k: float = 0.4) -> float:
    """Min-K%: minus the mean of the lowest k fraction of token log-probabilities."""
    lp = np.sort(np.asarray(token_log_probs, dtype=float))
    count = max(1, int(math.ceil(k * len(lp)))) if len(lp) else 0
    return float(-lp[:count].mean()) if count else 0.0


def min_k_plus_plus_score(
    token_log_probs: Sequence[float], means: Sequence[float], stds: Sequence[float], k: float = 0.4
) -> float:
    """Min-K%++: token log-probs standardised by the mean and std of log p under the model's own
    next-token distribution at that position, then Min-K% of those."""
    z = (np.asarray(token_log_probs, float) - np.asarray(means, float)) / np.maximum(np.asarray(stds, float), 1e-8)
    return min_k_score(z, k)


def mia_auc(forget_scores: Sequence[float], holdout_scores: Sequence[float]) -> float:
    """ROC AUC with forget items labelled 0 and holdout items 1 (1.0: forget set fully exposed)."""
    from sklearn.metrics import roc_auc_score

    labels = [0] * len(forget_scores) + [1] * len(holdout_scores)
    return float(roc_auc_score(labels, list(forget_scores) + list(holdout_scores)))


def privleak(auc_model: float, auc_retain: float) -> float:
    """MUSE privacy leakage: (AUC_model - AUC_retain) / AUC_retain * 100 (0 is ideal)."""
    return (auc_model - auc_retain) / auc_retain * 100.0


def multiple_choice_accuracy(choice_log_likelihoods: Sequence[Sequence[float]], answers: Sequence[int]) -> float:
    predictions = np.argmax(np.asarray(choice_log_likelihoods, float), axis=1)
    return float(np.mean(predictions == np.asarray(answers)))


def harmonic_mean(values: Sequence[float]) -> float:
    v = np.asarray(values, float)
    return 0.0 if np.any(v <= 0) else float(len(v) / np.sum(1.0 / v))


# ---- uncertainty ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A statistic of ``n`` per-item values (``value``) and its bootstrap interval [``low``, ``high``]."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_interval(
    values: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    statistic: Callable[[np.ndarray], float] = np.mean,
) -> Interval:
    """``statistic`` of ``values`` with a percentile bootstrap interval at confidence ``level``.

    Method: draw ``resamples`` samples of n items with replacement from the n values (indices from
    ``numpy.random.default_rng(seed)``, so the same input, seed and settings give the same interval),
    compute ``statistic`` on each, and take the (1 - level)/2 and 1 - (1 - level)/2 quantiles of those
    statistics (numpy's linear interpolation) as ``low`` and ``high``. ``value`` is ``statistic`` on the
    data itself; the percentile interval need not be centred on it. The interval describes how much the
    statistic would move if the evaluation items were drawn again from the same population; it says
    nothing about sampling noise inside one item (generation temperature, judge variance).

    No values: value, low and high are NaN. One value: every resample is that value, so
    low == high == value. Raises ValueError for values that are not one-dimensional or contain NaN,
    ``resamples`` < 1, or ``level`` outside (0, 1).
    """
    data = _per_item_values(values, "values")
    _check_bootstrap_settings(resamples, level)
    n = len(data)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    value = float(statistic(data))
    if n == 1:
        return Interval(value, value, value, 1)
    rng = np.random.default_rng(seed)
    statistics = np.array([statistic(data[rng.integers(0, n, size=n)]) for _ in range(int(resamples))], dtype=float)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(statistics, [tail, 1.0 - tail])
    return Interval(value, float(low), float(high), n)


def paired_bootstrap_difference(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> Interval:
    """mean(a - b) with a paired percentile bootstrap interval.

    ``a`` and ``b`` are per-item values of two methods on the same items, in the same order. Each
    resample draws item indices with replacement and takes both methods' values for the same indices,
    which is the bootstrap of the per-item differences a_i - b_i (``bootstrap_interval`` of a - b with
    the mean). Pairing matters because items differ far more from each other (an easy item is easy for
    both methods) than the methods differ on one item: resampling a and b independently would add that
    item-to-item spread twice and give a much wider interval for the same data. Identical inputs give
    the interval [0, 0]. Raises ValueError when the lengths differ (naming both).
    """
    first, second = _per_item_values(a, "a"), _per_item_values(b, "b")
    if len(first) != len(second):
        raise ValueError(
            f"paired_bootstrap_difference needs one value per item from each method; "
            f"a has {len(first)} values, b has {len(second)}"
        )
    return bootstrap_interval(first - second, resamples=resamples, seed=seed, level=level, statistic=np.mean)


def _per_item_values(values: Sequence[float], name: str) -> np.ndarray:
    data = np.asarray(values, dtype=float)
    if data.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of per-item values, got shape {data.shape}")
    missing = int(np.isnan(data).sum())
    if missing:
        raise ValueError(f"{name} contains {missing} NaN value(s); drop or score those items first")
    return data


def _check_bootstrap_settings(resamples: int, level: float) -> None:
    if int(resamples) != resamples or resamples < 1:
        raise ValueError(f"resamples must be a positive whole number, got {resamples!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (exclusive), got {level!r}")


def grouped_bootstrap_interval(
    groups: Mapping[str, Mapping[str, Sequence[float]]],
    statistic: Callable[[dict[str, dict[str, np.ndarray]]], float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """``statistic`` over several item groups with a percentile bootstrap interval that resamples the
    items of each group independently (the values of one item, e.g. its probability, ROUGE and truth
    ratio, stay together). For statistics of several splits, such as TOFU's model utility (retain, real
    authors and world facts). ``n`` is the number of items over all groups."""
    _check_bootstrap_settings(resamples, level)
    data = {g: {k: _per_item_values(v, f"{g}/{k}") for k, v in per_item.items()} for g, per_item in groups.items()}
    sizes = {g: len(next(iter(per_item.values()))) if per_item else 0 for g, per_item in data.items()}
    for g, per_item in data.items():
        if any(len(v) != sizes[g] for v in per_item.values()):
            raise ValueError(f"every value list of group {g} needs one value per item")
    value = float(statistic(data))
    n = sum(sizes.values())
    if any(size < 2 for size in sizes.values()):
        return Interval(value, value, value, n)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(int(resamples)):
        picks = {g: rng.integers(0, sizes[g], size=sizes[g]) for g in data}
        draws.append(statistic({g: {k: v[picks[g]] for k, v in per_item.items()} for g, per_item in data.items()}))
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.array(draws, dtype=float), [tail, 1.0 - tail])
    return Interval(value, float(low), float(high), n)


def auc_interval(
    scores_neg: Sequence[float],
    scores_pos: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """ROC AUC of ``scores_neg`` (label 0) against ``scores_pos`` (label 1) with a stratified percentile
    bootstrap interval; ``n`` counts both classes.

    Each resample draws the negatives and the positives separately, each with replacement and at its own
    size, so that every resample keeps both classes at their sizes (a pooled draw could leave one class
    out, and the AUC would be undefined). Quantiles, seeding and the meaning of the interval are those of
    ``bootstrap_interval``. ``value`` is ``mia_auc(scores_neg, scores_pos)``; the resamples use the
    equivalent rank formula (ties count one half). A class without scores gives NaN for value, low and
    high. Raises ValueError for NaN scores or bad settings.
    """
    neg, pos = _per_item_values(scores_neg, "scores_neg"), _per_item_values(scores_pos, "scores_pos")
    _check_bootstrap_settings(resamples, level)
    n = len(neg) + len(pos)
    if not len(neg) or not len(pos):
        return Interval(math.nan, math.nan, math.nan, n)
    neg_picks, pos_picks = _stratified_picks(len(neg), len(pos), resamples, seed)
    draws = rank_auc(neg[neg_picks], pos[pos_picks])
    return _percentile_interval(mia_auc(neg, pos), draws, level, n)


def privleak_interval(
    model_neg: Sequence[float],
    model_pos: Sequence[float],
    retain_neg: Sequence[float],
    retain_pos: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """``privleak`` of a model against the retain model, with a paired stratified bootstrap interval.

    Both models scored the same items in the same order: ``*_neg`` the forget items (label 0), ``*_pos``
    the holdout items (label 1). Each resample draws forget and holdout indices as ``auc_interval`` does
    and takes both models' scores at the same indices, so that an item that is easy to tell apart for
    both models moves both AUCs together rather than adding its spread twice (the reason for pairing
    given at ``paired_bootstrap_difference``). ``n`` counts the items of one model. Privleak is undefined
    where the retain model's AUC is 0: such resamples are left out of the quantiles, and value, low and
    high are NaN when the data's own retain AUC is 0 (or a class has no scores). Raises ValueError when
    the two models have different numbers of forget or holdout scores (naming them).
    """
    sides = {
        name: _per_item_values(v, name)
        for name, v in (
            ("model_neg", model_neg),
            ("model_pos", model_pos),
            ("retain_neg", retain_neg),
            ("retain_pos", retain_pos),
        )
    }
    for cls in ("neg", "pos"):
        if len(sides[f"model_{cls}"]) != len(sides[f"retain_{cls}"]):
            raise ValueError(
                f"privleak_interval needs both models' scores of the same items; model_{cls} has "
                f"{len(sides[f'model_{cls}'])} values, retain_{cls} has {len(sides[f'retain_{cls}'])}"
            )
    _check_bootstrap_settings(resamples, level)
    model_neg_v, model_pos_v, retain_neg_v, retain_pos_v = sides.values()
    n = len(model_neg_v) + len(model_pos_v)
    retain_auc = mia_auc(retain_neg_v, retain_pos_v) if len(model_neg_v) and len(model_pos_v) else 0.0
    if retain_auc == 0:
        return Interval(math.nan, math.nan, math.nan, n)
    value = privleak(mia_auc(model_neg_v, model_pos_v), retain_auc)
    neg_picks, pos_picks = _stratified_picks(len(model_neg_v), len(model_pos_v), resamples, seed)
    retain_draws = rank_auc(retain_neg_v[neg_picks], retain_pos_v[pos_picks])
    defined = retain_draws > 0
    draws = privleak(rank_auc(model_neg_v[neg_picks], model_pos_v[pos_picks])[defined], retain_draws[defined])
    return _percentile_interval(value, draws, level, n)


def rank_auc(scores_neg: np.ndarray, scores_pos: np.ndarray) -> np.ndarray | float:
    """ROC AUC by ranks (Mann-Whitney U / (n_neg * n_pos), tied scores get their average rank), along
    the last axis: one AUC per row for 2-D inputs (one resample per row)."""
    from scipy.stats import rankdata

    neg, pos = np.asarray(scores_neg, dtype=float), np.asarray(scores_pos, dtype=float)
    n_neg, n_pos = neg.shape[-1], pos.shape[-1]
    ranks = rankdata(np.concatenate([neg, pos], axis=-1), axis=-1)
    u = ranks[..., n_neg:].sum(axis=-1) - n_pos * (n_pos + 1) / 2.0
    return u / (n_neg * n_pos)


def _stratified_picks(n_neg: int, n_pos: int, resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """resamples x n_neg and resamples x n_pos indices, each class drawn with replacement on its own."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, n_neg, size=(int(resamples), n_neg)), rng.integers(0, n_pos, size=(int(resamples), n_pos)))


def _percentile_interval(value: float, draws: np.ndarray, level: float, n: int) -> Interval:
    if not len(draws):
        return Interval(float(value), math.nan, math.nan, n)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(draws, dtype=float), [tail, 1.0 - tail])
    return Interval(float(value), float(low), float(high), n)
