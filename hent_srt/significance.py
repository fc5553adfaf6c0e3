"""Paired bootstrap resampling of the corpus BLEU difference between two systems on one test set (Koehn, 2004).

Both systems' hypotheses of the same n segments are scored on the same resampled test sets: a resample draws n
segment indices uniformly with replacement, and

    delta_s = BLEU(system on resample s) - BLEU(baseline on resample s),      s = 1..S,

each BLEU a corpus BLEU computed from the summed sentence statistics of the resample (hypothesis and reference
lengths, matched and total n-grams of orders 1-4), exactly as sacrebleu sums them for a corpus. The observed
difference is ``delta`` = BLEU(system) - BLEU(baseline) on the test set itself; the interval is the percentile
interval of the delta_s at the chosen confidence (0.95: their 2.5th and 97.5th percentiles); ``p_value`` is the
share of resamples on which the system is not ahead of the baseline when ``delta`` > 0 (``delta_s`` <= 0), not
behind it when ``delta`` < 0 (``delta_s`` >= 0), and 1 when ``delta`` is 0: Koehn's "B is better than A in (1 - p)
of the resamples". BLEU is the one of :func:`hent_srt.metrics.bleu_metric` (lowercased, 13a, exponential
smoothing), so ``delta`` is the difference of the scores ``hent-srt score`` and ``hent-srt decode`` report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sacrebleu.metrics import BLEU

from hent_srt.metrics import REORDERING_SUBSETS, bleu_metric, check_streams

MAX_NGRAM_ORDER = 4


@dataclass
class PairedBootstrap:
    """BLEU of a baseline and a system on one test set, their difference and its bootstrap interval."""

    baseline_bleu: float
    system_bleu: float
    delta: float
    """system BLEU - baseline BLEU on the test set itself"""
    ci_low: float
    ci_high: float
    confidence: float
    p_value: float
    num_resamples: int
    num_segments: int
    num_refs: int
    bleu_signature: str


def sentence_statistics(hyps: Sequence[str], refs: Sequence[Sequence[str]], metric: BLEU | None = None) -> np.ndarray:
    """BLEU statistics of each segment, shape (n, 2 + 2 * 4): hypothesis length, (closest) reference length,
    matched n-grams of orders 1-4, total hypothesis n-grams of orders 1-4; ``refs[k][i]`` is reference k of
    segment i. Summed over segments, a row gives the corpus BLEU of :func:`bleu_from_statistics`."""
    check_streams(hyps, refs)
    metric = metric or bleu_metric()
    rows = []
    for i, hyp in enumerate(hyps):
        score = metric.corpus_score([hyp], [[stream[i]] for stream in refs])
        rows.append([score.sys_len, score.ref_len, *score.counts, *score.totals])
    return np.asarray(rows, dtype=np.int64).reshape(len(hyps), 2 + 2 * MAX_NGRAM_ORDER)


def bleu_from_statistics(stats: np.ndarray, metric: BLEU | None = None) -> float:
    """Corpus BLEU of summed statistics ``stats`` (shape (2 + 2 * 4,), as :func:`sentence_statistics` sums)."""
    metric = metric or bleu_metric()
    values = [int(v) for v in stats]
    sys_len, ref_len = values[:2]
    correct, total = values[2:2 + MAX_NGRAM_ORDER], values[2 + MAX_NGRAM_ORDER:]
    return BLEU.compute_bleu(correct, total, sys_len, ref_len, smooth_method=metric.smooth_method,
                             smooth_value=metric.smooth_value, effective_order=metric.effective_order,
                             max_ngram_order=MAX_NGRAM_ORDER).score


def draw_resamples(num_segments: int, num_resamples: int, seed: int) -> np.ndarray:
    """``num_resamples`` resamples of ``num_segments`` segment indices drawn with replacement, shape (S, n)."""
    if num_segments < 1 or num_resamples < 1:
        raise ValueError(f"need at least one segment and one resample, got {num_segments} and {num_resamples}")
    return np.random.default_rng(seed).integers(0, num_segments, size=(num_resamples, num_segments))


def paired_bootstrap_bleu(
    baseline: Sequence[str],
    system: Sequence[str],
    refs: Sequence[Sequence[str]],
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: np.ndarray | None = None,
) -> PairedBootstrap:
    """The difference system - baseline of corpus BLEU and its paired bootstrap interval (module docstring).

    ``baseline[i]``, ``system[i]``: the two hypotheses of segment i; ``refs[k][i]``: its reference k.
    ``resamples`` (shape (S, n), segment indices): the resamples to score, e.g. every one of a small test set;
    by default ``num_resamples`` drawn with :func:`draw_resamples` from ``seed``.
    """
    check_streams(system, [baseline])
    metric = bleu_metric()
    return bootstrap_statistics(sentence_statistics(baseline, refs, metric), sentence_statistics(system, refs, metric),
                                len(refs), metric, num_resamples, confidence, seed, resamples)


def bootstrap_statistics(
    stats_a: np.ndarray,
    stats_b: np.ndarray,
    num_refs: int,
    metric: BLEU,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: np.ndarray | None = None,
) -> PairedBootstrap:
    """:func:`paired_bootstrap_bleu` from the two systems' :func:`sentence_statistics` (shape (n, 10) each, rows of
    the same segments), scored by ``metric`` (whose signature the result carries, after it scored them)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    n = len(stats_b)
    if resamples is None:
        resamples = draw_resamples(n, num_resamples, seed)
    resamples = np.asarray(resamples)
    if resamples.ndim != 2 or resamples.shape[0] < 1 or resamples.shape[1] < 1 or resamples.min() < 0 \
            or resamples.max() >= n:
        raise ValueError(f"resamples must be a non-empty (S, n) array of indices in [0, {n}), "
                         f"got shape {resamples.shape}")
    # multiplicity of each segment in each resample, shape (S, n): the summed statistics are one product
    counts = np.zeros((resamples.shape[0], n), dtype=np.int64)
    np.add.at(counts, (np.arange(resamples.shape[0])[:, None], resamples), 1)
    sums_a, sums_b = counts @ stats_a, counts @ stats_b
    deltas = np.array([bleu_from_statistics(b, metric) - bleu_from_statistics(a, metric)
                       for a, b in zip(sums_a, sums_b)])
    baseline_bleu = bleu_from_statistics(stats_a.sum(axis=0), metric)
    system_bleu = bleu_from_statistics(stats_b.sum(axis=0), metric)
    delta = system_bleu - baseline_bleu
    if delta > 0:
        p_value = float(np.mean(deltas <= 0))
    elif delta < 0:
        p_value = float(np.mean(deltas >= 0))
    else:
        p_value = 1.0
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(deltas, [tail, 100.0 - tail])
    return PairedBootstrap(
        baseline_bleu=baseline_bleu, system_bleu=system_bleu, delta=delta, ci_low=float(low), ci_high=float(high),
        confidence=confidence, p_value=p_value, num_resamples=int(resamples.shape[0]), num_segments=n,
        num_refs=num_refs, bleu_signature=str(metric.get_signature()),
    )


def paired_bootstrap_by_subset(
    baseline: Sequence[str],
    system: Sequence[str],
    refs: Sequence[Sequence[str]],
    crossings: Sequence[int] | None = None,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, PairedBootstrap]:
    """:func:`paired_bootstrap_bleu` on each subset of :data:`hent_srt.metrics.REORDERING_SUBSETS` (segments chosen
    by their ``crossings``, the crossing alignment links of each; subsets without segments are left out), or on all
    segments (key "all") without ``crossings``; every subset draws its own resamples from ``seed``. The sentence
    statistics are computed once and shared by the subsets."""
    check_streams(system, [baseline])
    if crossings is not None and len(crossings) != len(system):
        raise ValueError(f"crossings has {len(crossings)} entries, hypotheses have {len(system)}")
    metric = bleu_metric()
    stats_a, stats_b = sentence_statistics(baseline, refs, metric), sentence_statistics(system, refs, metric)
    subsets = REORDERING_SUBSETS if crossings is not None else (("all", 0, None),)
    results: dict[str, PairedBootstrap] = {}
    for name, low, high in subsets:
        keep = [k for k in range(len(system)) if crossings is None
                or (crossings[k] >= low and (high is None or crossings[k] <= high))]
        if keep:
            results[name] = bootstrap_statistics(stats_a[keep], stats_b[keep], len(refs), metric, num_resamples,
                                                 confidence, seed)
    return results


__all__ = ["PairedBootstrap", "sentence_statistics", "bleu_from_statistics", "draw_resamples",
           "paired_bootstrap_bleu", "bootstrap_statistics", "paired_bootstrap_by_subset"]
