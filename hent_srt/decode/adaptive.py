"""Adaptive ST blank penalty: choose the penalty per utterance from an estimate of its translation's length.

The ST head is searched at every penalty p of a grid G (one encoder pass, as the sweep does). Utterance u's
target length is estimated from a text s_u whose length follows the translation's, and the penalty whose
translation ŷ_u(p) comes closest to the estimate is chosen:

    L̂_u = r · |s_u|
    p_u = argmin_{p ∈ G} | |ŷ_u(p)| − L̂_u |          (ties → the penalty closest to p*, then the smaller)

where |ŷ| counts the words of the normalised translation and p* is the dev-best constant penalty. Two estimators
give s_u (``estimator``):

- ``asr_length``: the normalised ASR hypothesis x̂_u, |x̂_u| in the scoring unit of the ASR (words, or
  characters for Mandarin): the source length times the language pair's length ratio;
- ``st_ctc``: the ST head's own CTC output (best path, :mod:`hent_srt.search.ctc`), normalised as the
  translations are, |·| in words: a second, alignment-free guess at the translation whose length the
  transducer's blank penalty is then steered to.

Neighbouring penalties often give translations of the same length (or the same translation), so ties are common:
they go to p*, and the choice departs from the best constant penalty only where the lengths tell it to.

The ratio r is tuned on a dev set only (:func:`tune`): start from the dev length ratio of the references to the
estimator's texts, r_ref = Σ_u |y_u| / Σ_u |s_u|, and take r = s* · r_ref with

    p* = argmax_{p ∈ G} BLEU_dev(p)                           (ties → the smaller p)
    s* = argmax_{s ∈ S} BLEU_dev(p_u chosen with s · r_ref)   (ties → the s closest to 1, then the smaller s)

over the scales S (default 0.80, 0.85, ..., 1.20), so that a model whose translations run systematically long
or short of the references is matched on what it actually emits. p* is also the baseline the adaptive choice is
compared with on test. The tuned parameters are a small JSON file (:func:`write_params`, :func:`read_params`) that
``hent-srt decode --blank-penalty adaptive`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hent_srt.fileio import write_text_atomic
from hent_srt.metrics import TranslationScore, tokenize_for_error_rate, translation_score

__all__ = [
    "ADAPTIVE",
    "ASR_LENGTH",
    "DEFAULT_GRID",
    "DEFAULT_SCALES",
    "ESTIMATORS",
    "ST_CTC",
    "AdaptivePenalty",
    "choose_penalties",
    "estimator_unit",
    "params_file_name",
    "penalty_histogram",
    "read_params",
    "select_hypotheses",
    "target_estimates",
    "tune",
    "write_params",
]

ADAPTIVE = "adaptive"
DEFAULT_GRID: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
DEFAULT_SCALES: tuple[float, ...] = tuple(round(0.8 + 0.05 * k, 2) for k in range(9))
ASR_LENGTH = "asr_length"
ST_CTC = "st_ctc"
ESTIMATORS = (ASR_LENGTH, ST_CTC)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class AdaptivePenalty:
    """Tuned parameters of the adaptive penalty (module docstring) and the dev measurements behind them.

    ``grid``: the penalties G; ``ratio``: r; ``source_unit``: the unit of |s| ("word" or "char"; always "word"
    for ``st_ctc``); ``estimator``: where s comes from (``asr_length`` or ``st_ctc``);
    ``reference_ratio``: r_ref; ``dev_bleu_by_scale`` / ``dev_bleu_by_penalty``: dev BLEU of each scale s and each
    constant penalty; ``dev_best_penalty``: p*; ``dev_bleu_adaptive``: dev BLEU at r."""

    grid: tuple[float, ...]
    ratio: float
    source_unit: str
    reference_ratio: float
    dev_best_penalty: float
    dev_bleu_adaptive: float
    dev_bleu_by_penalty: dict[str, float] = field(default_factory=dict)
    dev_bleu_by_scale: dict[str, float] = field(default_factory=dict)
    dev_set: str = ""
    num_dev_utterances: int = 0
    bleu_signature: str = ""
    num_refs: int = 0
    setting_tag: str = ""
    src_normalizer: str = "none"
    tgt_normalizer: str = "none"
    estimator: str = ASR_LENGTH

    def as_dict(self) -> dict:
        return {"format_version": FORMAT_VERSION, **asdict(self), "grid": list(self.grid)}


def params_file_name(setting_tag: str) -> str:
    """``adaptive-blank-penalty-<TAG>.json``: the tuned parameters of one decoding setting (in the exp dir)."""
    return f"adaptive-blank-penalty-{setting_tag}.json"


def _check_grid(grid: Sequence[float]) -> tuple[float, ...]:
    values = tuple(sorted(float(p) for p in grid))
    if len(values) < 2 or len(set(values)) != len(values):
        raise ValueError(f"the adaptive penalty grid needs at least two distinct penalties, got {list(grid)}")
    return values


def target_estimates(length_texts: Mapping[str, str], ratio: float, source_unit: str) -> dict[str, float]:
    """L̂_u = r · |s_u|: the estimated translation length (words) of each utterance u of ``length_texts``, whose
    estimator text s_u (its normalised ASR hypothesis, or its normalised ST CTC hypothesis) is counted in
    ``source_unit``."""
    return {u: ratio * len(tokenize_for_error_rate(text, source_unit)) for u, text in length_texts.items()}


def choose_penalties(
    st_hyps: Mapping[float, Mapping[str, str]],
    targets: Mapping[str, float],
    anchor: float | None = None,
) -> dict[str, float]:
    """p_u for every utterance of ``targets`` (module docstring): ``st_hyps[p][u]`` is the normalised translation
    of u at penalty p, ``targets[u]`` its estimated length L̂_u (:func:`target_estimates`); equal distances go to the
    penalty closest to ``anchor`` (p*), then to the smaller one (without an anchor: the smaller one)."""
    grid = _check_grid(list(st_hyps))
    missing = [u for u in targets if any(u not in st_hyps[p] for p in grid)]
    if missing:
        raise ValueError(f"utterances {missing[:3]} lack a translation at some penalty of the grid {list(grid)}")
    return {utt: min(grid, key=lambda p: (abs(len(st_hyps[p][utt].split()) - target),
                                          0.0 if anchor is None else abs(p - anchor), p))
            for utt, target in targets.items()}


def select_hypotheses(st_hyps: Mapping[float, Mapping[str, str]], choice: Mapping[str, float]) -> dict[str, str]:
    """The translation of each utterance at its chosen penalty."""
    return {utt: st_hyps[p][utt] for utt, p in choice.items()}


def penalty_histogram(choice: Mapping[str, float], grid: Sequence[float]) -> dict[str, int]:
    """How many utterances chose each penalty of ``grid`` (keys ``f"{p:g}"``, every penalty listed)."""
    counts = {f"{p:g}": 0 for p in sorted(grid)}
    for p in choice.values():
        counts[f"{p:g}"] += 1
    return counts


def tune(
    st_hyps: Mapping[float, Mapping[str, str]],
    length_texts: Mapping[str, str],
    refs: Sequence[Sequence[str]],
    ids: Sequence[str],
    source_unit: str,
    scales: Sequence[float] = DEFAULT_SCALES,
    estimator: str = ASR_LENGTH,
) -> AdaptivePenalty:
    """Tune r on a dev set (module docstring). ``length_texts[u]``: u's estimator text s_u (of ``estimator``);
    ``refs[k][i]`` is reference k of utterance ``ids[i]``; texts are normalised as they are scored. Only the tuned
    fields are filled; the caller adds where they come from."""
    grid = _check_grid(list(st_hyps))
    if not ids or not scales:
        raise ValueError("tuning the adaptive penalty needs dev utterances and at least one scale")
    _check_estimator(estimator, source_unit)
    source_total = sum(len(tokenize_for_error_rate(length_texts[u], source_unit)) for u in ids)
    if source_total == 0:
        what = "ASR hypotheses" if estimator == ASR_LENGTH else "ST CTC hypotheses"
        raise ValueError(f"the {what} of the dev set are all empty, so they estimate no target length; check the "
                         "model and the dev manifest")
    reference_total = sum(len(r.split()) for r in refs[0])
    reference_ratio = reference_total / source_total

    def score(hyps: Mapping[str, str]) -> TranslationScore:
        return translation_score([hyps[u] for u in ids], refs)

    constant_scores = {p: score(st_hyps[p]) for p in grid}
    by_penalty = {p: s.bleu for p, s in constant_scores.items()}
    best_penalty = max(grid, key=lambda p: by_penalty[p])
    dev_texts = {u: length_texts[u] for u in ids}
    by_scale = {s: score(select_hypotheses(st_hyps, choose_penalties(
                    st_hyps, target_estimates(dev_texts, s * reference_ratio, source_unit), best_penalty))).bleu
                for s in scales}
    best_scale = max(sorted(scales, key=lambda s: (abs(s - 1.0), s)), key=lambda s: by_scale[s])
    best = constant_scores[best_penalty]
    return AdaptivePenalty(
        grid=grid, ratio=best_scale * reference_ratio, source_unit=source_unit, reference_ratio=reference_ratio,
        dev_best_penalty=best_penalty, dev_bleu_adaptive=by_scale[best_scale],
        dev_bleu_by_penalty={f"{p:g}": v for p, v in by_penalty.items()},
        dev_bleu_by_scale={f"{s:g}": v for s, v in by_scale.items()},
        num_dev_utterances=len(ids), bleu_signature=best.bleu_signature, num_refs=best.num_refs,
        estimator=estimator,
    )


def estimator_unit(estimator: str, asr_unit: str) -> str:
    """The unit |s| is counted in for ``estimator``: the ASR scoring unit ``asr_unit`` ("word" or "char") for
    ``asr_length``, always "word" (target words) for ``st_ctc``."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"the adaptive penalty's estimator must be one of {ESTIMATORS}, got {estimator!r}")
    return "word" if estimator == ST_CTC else asr_unit


def _check_estimator(estimator: str, source_unit: str) -> None:
    if source_unit != estimator_unit(estimator, source_unit):
        raise ValueError(f"the {ST_CTC} estimator counts target words, so its unit is 'word', got {source_unit!r}")


def write_params(path: Path, params: AdaptivePenalty) -> None:
    """Write ``params`` as JSON, atomically."""
    write_text_atomic(path, json.dumps(params.as_dict(), indent=2) + "\n")


def read_params(path: Path, how_to_make: str) -> AdaptivePenalty:
    """Read the JSON of :func:`write_params`; ValueError naming ``path`` and ``how_to_make`` (the command that
    writes it) when it is missing or damaged."""
    if not path.is_file():
        raise ValueError(f"--blank-penalty adaptive needs its tuned parameters {path}, which are missing: tune them "
                         f"on a dev set first with {how_to_make}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version is not {FORMAT_VERSION}")
        data["grid"] = tuple(data["grid"])
        params = AdaptivePenalty(**data)
        _check_grid(params.grid)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"{path} is not a tuned adaptive-penalty file ({type(err).__name__}: {err}); tune it "
                         f"again with {how_to_make}") from None
    valid_unit = params.estimator in ESTIMATORS and params.source_unit in ("word", "char") and \
        params.source_unit == estimator_unit(params.estimator, params.source_unit)
    if not valid_unit or not params.ratio > 0:
        raise ValueError(f"{path} holds estimator {params.estimator!r}, unit {params.source_unit!r}, ratio "
                         f"{params.ratio}: expected one of {ESTIMATORS}, word (or char for {ASR_LENGTH}) and a "
                         f"positive ratio; tune it again with {how_to_make}")
    return params
