"""Metrics: hand-computed error rates, sacrebleu agreement, multi-reference behaviour, Kaldi-file checks."""

import math

import pytest
from sacrebleu.metrics import BLEU, CHRF

from hent_srt.metrics import (
    align,
    error_rate,
    format_error_details,
    match_ids,
    read_kaldi_text,
    reordering_scores,
    translation_score,
    word_order_score,
)


def test_wer_hand_computed():
    # "a b c d e" -> "a x c e": one substitution (b->x) and one deletion: every minimal alignment has 1 S + 1 D
    r = error_rate(["a b c d e", "p q r"], ["a x c e", "z p q r w"])
    # "p q r" -> "z p q r w": two insertions
    assert (r.substitutions, r.deletions, r.insertions, r.num_ref) == (1, 1, 2, 8)
    assert r.rate == pytest.approx(50.0)


def test_wer_empty_hypothesis_and_empty_reference():
    r = error_rate(["one two three", ""], ["", "extra words"])
    assert (r.deletions, r.insertions, r.substitutions, r.num_ref) == (3, 2, 0, 3)
    assert r.rate == pytest.approx(500 / 3)
    assert error_rate([""], [""]).rate == 0.0
    assert error_rate([""], ["x"]).rate == float("inf")


def test_cer_on_characters_ignores_spaces():
    r = error_rate(["我 买的书"], ["我卖的书"], unit="char")
    assert (r.num_ref, r.substitutions, r.errors) == (4, 1, 1)


def test_alignment_is_minimal_against_brute_force():
    import itertools

    def edit_distance(a, b):
        if not a:
            return len(b)
        if not b:
            return len(a)
        return min(edit_distance(a[1:], b) + 1, edit_distance(a, b[1:]) + 1, edit_distance(a[1:], b[1:]) + (a[0] != b[0]))

    for ref in itertools.product("ab", repeat=3):
        for n in range(4):
            for hyp in itertools.product("abc", repeat=n):
                al = align(list(ref), list(hyp))
                assert sum(o != "C" for o, _, _ in al.ops) == edit_distance(list(ref), list(hyp))
                assert [r for o, r, _ in al.ops if o != "I"] == list(ref)
                assert [h for o, _, h in al.ops if o != "D"] == list(hyp)


def test_error_details_lists_each_utterance():
    details = format_error_details(error_rate(["a b"], ["a c"], ids=["utt1"]))
    assert "utt1 S=1 D=0 I=0" in details and "ref: a b" in details and "hyp: a c" in details


HYPS = ["the cat sat on the mat today", "my brother's house is very big", "i bought the book yesterday"]
REFS = ["the cat sat on the mat", "the house of my brother is very big", "yesterday i bought the book"]


def test_bleu_and_chrf_equal_sacrebleu():
    score = translation_score(HYPS, [REFS])
    assert score.bleu == pytest.approx(BLEU(lowercase=True, tokenize="13a").corpus_score(HYPS, [REFS]).score)
    assert score.chrf == pytest.approx(CHRF(word_order=2).corpus_score(HYPS, [REFS]).score)
    assert "nrefs:1" in score.bleu_signature and "case:lc" in score.bleu_signature
    assert "nw:2" in score.chrf_signature
    assert score.num_refs == 1 and "reference" in score.summary()


def test_multi_reference_bleu_not_lower():
    second = ["the cat sat on the mat today", "my brother's house is very big", "i bought the book yesterday"]
    single = translation_score(HYPS, [REFS])
    multi = translation_score(HYPS, [REFS, second])
    assert multi.bleu >= single.bleu and multi.bleu > 99.0
    assert "nrefs:2" in multi.bleu_signature


def test_length_ratio():
    score = translation_score(["a b c d e f g h"], [["a b c d"]])
    assert score.length_ratio == pytest.approx(2.0)


def test_reference_stream_length_mismatch():
    with pytest.raises(ValueError, match="reference stream 0"):
        translation_score(["a"], [["a", "b"]])


def _brute_force_nkt(order: list[int]) -> float:
    """Share of position pairs (i < j) with order[i] < order[j]."""
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    return sum(a < b for a, b in pairs) / len(pairs)


def test_word_order_on_hand_built_permutations():
    ref = "a b c d"
    # identity: tau 1; reversed: 0; one adjacent swap: 5 of 6 pairs in order; an unmatched extra word keeps the
    # order (tau 1) but lowers the precision P = 4/5 (BP = 1 as the hypothesis is longer): RIBES = 0.8^0.25
    hyps = ["a b c d", "d c b a", "b a c d", "a b x c d"]
    expected_nkt = [1.0, 0.0, 5 / 6, 1.0]
    expected_ribes = [1.0, 0.0, 5 / 6, 0.8**0.25]
    for hyp, nkt, ribes in zip(hyps, expected_nkt, expected_ribes):
        score = word_order_score([hyp], [[ref]])
        assert score.kendall_tau == pytest.approx(100 * nkt) and score.ribes == pytest.approx(100 * ribes)
    corpus = word_order_score(hyps, [[ref] * 4])
    assert corpus.ribes == pytest.approx(100 * sum(expected_ribes) / 4)
    assert corpus.kendall_tau == pytest.approx(100 * sum(expected_nkt) / 4) and corpus.num_matched == 4


def test_kendall_tau_equals_brute_force_on_random_permutations():
    import random

    rng = random.Random(3)
    words = [f"w{i}" for i in range(9)]
    for _ in range(20):
        order = list(range(len(words)))
        rng.shuffle(order)
        score = word_order_score([" ".join(words[k] for k in order)], [[" ".join(words)]])
        assert score.kendall_tau == pytest.approx(100 * _brute_force_nkt(order))


def test_word_order_with_fewer_than_two_matches_and_best_reference():
    score = word_order_score(["x y", "a"], [["a b", "a b"]])
    assert score.ribes == 0.0 and score.num_matched == 0
    assert math.isnan(score.kendall_tau)
    # the second reference has the hypothesis order: it is the one that counts
    two_refs = word_order_score(["c b a"], [["a b c"], ["c b a"]])
    assert two_refs.kendall_tau == pytest.approx(100.0) and two_refs.ribes == pytest.approx(100.0)


def test_reordering_scores_split_by_crossings_equal_sacrebleu_on_the_subsets():
    hyps = ["the cat sat on the mat", "my brother's house is big", "i bought the book yesterday",
            "the dog that i saw in the park yesterday", "she reads a red book"]
    refs = ["the cat sat on the mat", "the house of my brother is big", "yesterday i bought the book",
            "the dog that i saw yesterday in the park", "she reads the red book"]
    crossings = [0, 4, 3, 12, 0]
    out = reordering_scores(hyps, [refs], crossings)
    bleu, chrf = BLEU(lowercase=True, tokenize="13a"), CHRF(word_order=2)
    for name, keep in (("all", [0, 1, 2, 3, 4]), ("monotone", [0, 4]), ("reordered", [1, 2, 3]),
                       ("reordered_10", [3])):
        sub_h, sub_r = [hyps[i] for i in keep], [[refs[i] for i in keep]]
        assert out[name]["num_segments"] == len(keep)
        assert out[name]["bleu"] == pytest.approx(bleu.corpus_score(sub_h, sub_r).score)
        assert out[name]["chrf"] == pytest.approx(chrf.corpus_score(sub_h, sub_r).score)
        assert out[name]["ribes"] == pytest.approx(word_order_score(sub_h, sub_r).ribes)
        assert "nrefs:1" in out[name]["bleu_signature"]
    assert out["monotone"]["bleu"] != out["reordered"]["bleu"]
    # no segment with 10 or more crossings: the subset is reported empty
    assert reordering_scores(hyps[:3], [refs[:3]], crossings[:3])["reordered_10"] == {"num_segments": 0}


def test_reordering_scores_reject_bad_crossings():
    with pytest.raises(ValueError, match="crossings has 1 entries"):
        reordering_scores(["a", "b"], [["a", "b"]], [0])
    with pytest.raises(ValueError, match="integers >= 0"):
        reordering_scores(["a"], [["a"]], [-1])


def test_kaldi_files_and_missing_ids(tmp_path):
    hyp = tmp_path / "hyp.txt"
    ref = tmp_path / "ref.txt"
    hyp.write_text("u1 hello\nu2\nu4 extra\n")
    ref.write_text("u1 hello world\nu2 empty hyp\nu3 missing\n")
    hyps, refs = read_kaldi_text(hyp), read_kaldi_text(ref)
    assert hyps["u2"] == ""
    with pytest.raises(ValueError) as err:
        match_ids(hyps, refs)
    assert "u3" in str(err.value) and "u4" in str(err.value)
    dup = tmp_path / "dup.txt"
    dup.write_text("u1 a\nu1 b\n")
    with pytest.raises(ValueError, match="dup.txt:2"):
        read_kaldi_text(dup)


def test_score_cli(tmp_path, capsys):
    from hent_srt.cli import main

    (tmp_path / "h").write_text("u1 The cat sat.\nu2 i bought the book\n")
    (tmp_path / "r0").write_text("u1 the cat sat\nu2 yesterday i bought the book\n")
    (tmp_path / "r1").write_text("u1 the cat sat down\nu2 i bought the book\n")
    errs = tmp_path / "errs.txt"
    rc = main(["score", "--hyp", str(tmp_path / "h"), "--ref", str(tmp_path / "r0"), "--ref", str(tmp_path / "r1"),
               "--normalizer", "iwslt22_en", "--errs-out", str(errs)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "WER 12.50% [ 1 / 8, 0 ins, 1 del, 0 sub ]" in out
    assert "nrefs:2" in out and "chrF++" in out
    assert errs.read_text().startswith("WER 12.50%")
    (tmp_path / "bad").write_text("u9 x\n")
    assert main(["score", "--hyp", str(tmp_path / "bad"), "--ref", str(tmp_path / "r0")]) == 2
