"""Paired bootstrap of the BLEU difference: the summed sentence statistics against sacrebleu's corpus BLEU, every
resample of a small set scored by sacrebleu itself, and the invariants of the interval."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hent_srt.metrics import translation_score
from hent_srt.significance import (
    bleu_from_statistics,
    draw_resamples,
    paired_bootstrap_bleu,
    sentence_statistics,
)

REFS = ["this flower is cheap", "that bicycle is good", "he read a book at home yesterday",
        "the black dog eats bread in the park"]
BASELINE = ["this table is cheap", "that car is good", "he read a book yesterday at home", "the dog eats bread"]
SYSTEM = ["this flower is cheap", "that car is good", "he read at home a book yesterday",
          "the black dog eats bread in park"]


def test_summed_statistics_give_sacrebleus_corpus_bleu():
    second = [r.replace("the ", "a ") for r in REFS]
    for refs in ([REFS], [REFS, second]):
        for hyps in (BASELINE, SYSTEM, ["", *SYSTEM[1:]]):
            stats = sentence_statistics(hyps, refs)
            assert stats.shape == (4, 10)
            assert bleu_from_statistics(stats.sum(axis=0)) == pytest.approx(translation_score(hyps, refs).bleu,
                                                                           abs=1e-12)


def test_every_resample_of_a_small_set_scored_by_sacrebleu():
    every = np.array(list(itertools.product(range(4), repeat=4)))  # all 256 resamples, each equally likely
    result = paired_bootstrap_bleu(BASELINE, SYSTEM, [REFS], resamples=every)
    deltas = np.array([
        translation_score([SYSTEM[i] for i in idx], [[REFS[i] for i in idx]]).bleu
        - translation_score([BASELINE[i] for i in idx], [[REFS[i] for i in idx]]).bleu
        for idx in every
    ])
    assert result.delta == pytest.approx(translation_score(SYSTEM, [REFS]).bleu
                                         - translation_score(BASELINE, [REFS]).bleu, abs=1e-12)
    assert result.delta > 0
    assert result.p_value == pytest.approx(np.mean(deltas <= 0))
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(np.percentile(deltas, [2.5, 97.5])), abs=1e-9)
    assert result.num_resamples == 256 and result.num_segments == 4 and result.num_refs == 1
    assert result.bleu_signature.startswith("nrefs:1|case:lc|eff:no|tok:13a|smooth:exp")

    drawn = paired_bootstrap_bleu(BASELINE, SYSTEM, [REFS], num_resamples=20000, seed=3)
    assert drawn.p_value == pytest.approx(result.p_value, abs=0.02)  # uniform draws approach the exact bootstrap


def test_identical_systems_and_swapped_roles():
    same = paired_bootstrap_bleu(SYSTEM, SYSTEM, [REFS], num_resamples=200)
    assert (same.delta, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    forward = paired_bootstrap_bleu(BASELINE, SYSTEM, [REFS], num_resamples=500, seed=1)
    backward = paired_bootstrap_bleu(SYSTEM, BASELINE, [REFS], num_resamples=500, seed=1)
    assert backward.delta == pytest.approx(-forward.delta)
    assert (backward.ci_low, backward.ci_high) == pytest.approx((-forward.ci_high, -forward.ci_low))
    assert backward.p_value == pytest.approx(forward.p_value)


def test_a_system_ahead_on_every_resample():
    refs = [f"word{i} and word{i + 1} and more words here" for i in range(30)]
    worse = [r.replace("and more", "") for r in refs]
    result = paired_bootstrap_bleu(worse, refs, [refs], num_resamples=300)
    assert result.system_bleu == pytest.approx(100.0)
    assert result.p_value == 0.0 and result.ci_low > 0


def test_resamples_are_drawn_with_replacement_from_the_seed():
    a, b = draw_resamples(5, 1000, seed=7), draw_resamples(5, 1000, seed=7)
    assert a.shape == (1000, 5) and (a == b).all() and a.min() == 0 and a.max() == 4
    assert not (a == draw_resamples(5, 1000, seed=8)).all()
    assert np.bincount(a.ravel(), minlength=5).min() > 900  # every index about 1000 times


@pytest.mark.parametrize("kwargs, named", [
    ({"system": SYSTEM[:3]}, "reference stream 0 has 4 segments, hypotheses have 3"),
    ({"confidence": 1.0}, "confidence must lie strictly between 0 and 1"),
    ({"resamples": np.array([[0, 1, 2, 4]])}, "indices in [0, 4)"),
    ({"resamples": np.zeros((0, 4), dtype=int)}, "non-empty"),
    ({"num_resamples": 0}, "at least one segment and one resample"),
])
def test_bad_arguments_are_named(kwargs, named):
    args = {"baseline": BASELINE, "system": SYSTEM, "refs": [REFS], **kwargs}
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        paired_bootstrap_bleu(**args)
