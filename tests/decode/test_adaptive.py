"""The adaptive ST blank penalty: the per-utterance choice on a toy transducer whose right penalty per utterance
is known by construction, the tuning of the ratio on a hand-built dev set with a known answer, the parameter
file, ``hent-srt decode --blank-penalty adaptive`` (tune on dev, decode test, and the named errors), and the ST CTC
estimator (its best path written out independently)."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import replace
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from lhotse import MonoCut
from torch import Tensor

from hent_srt import cli
from hent_srt.data.corpora.synth import NUM_CROSSINGS
from hent_srt.data.features import compute_features
from hent_srt.data.manifest import read_cuts
from hent_srt.data.schema import make_supervision
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.decode.adaptive import (
    DEFAULT_GRID,
    ST_CTC,
    AdaptivePenalty,
    choose_penalties,
    penalty_histogram,
    read_params,
    select_hypotheses,
    target_estimates,
    tune,
    write_params,
)
from hent_srt.decode.decode import Hypotheses, decode_cuts, score_and_write
from hent_srt.decode.results import format_section
from hent_srt.metrics import read_kaldi_text, reordering_scores
from hent_srt.search.greedy import greedy_search

FRAMES = 8
MARGIN_STEP = 0.5


class MarginStep:
    """A toy transducer head: the blank logit at a frame is the frame's blank margin (encoder channel 0), the one
    token's logit is 0, whatever the context. With one symbol per frame and penalty p, greedy search emits the
    token on exactly the frames whose margin is below p (a tie goes to the blank, the lower id)."""

    blank_id = 0
    context_size = 2

    def predict(self, contexts: Tensor) -> Tensor:
        return torch.zeros(contexts.size(0), 2)

    def join(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return torch.stack([encoder_out[:, 0], torch.zeros_like(encoder_out[:, 0])], dim=1)


def margins(offset: float) -> Tensor:
    """(FRAMES, 2) encoder output with blank margins offset, offset + 0.5, ...: penalty p emits
    #{t : offset + 0.5 t < p} tokens, a different count at every penalty of the grid for the offsets used here."""
    enc = torch.zeros(FRAMES, 2)
    enc[:, 0] = offset + MARGIN_STEP * torch.arange(FRAMES)
    return enc


def toy_translations(offsets: dict[str, float], grid: tuple[float, ...]) -> dict[float, dict[str, str]]:
    """Greedy search of :class:`MarginStep` at every penalty: token 1 is the word "w"."""
    ids = list(offsets)
    enc = torch.stack([margins(offsets[u]) for u in ids])
    lens = torch.full((len(ids),), FRAMES, dtype=torch.int64)
    out = {}
    for p in grid:
        tokens = greedy_search(MarginStep(), enc, lens, blank_penalty=p, max_sym_per_frame=1)
        out[p] = {u: " ".join("w" for _ in t) for u, t in zip(ids, tokens)}
    return out


def test_each_utterance_gets_the_one_penalty_that_yields_its_target_length():
    # offsets 0.25, -0.75, 1.25: at p in 0, 0.5, ..., 3 the first emits 0..6 tokens, the second 2..7, the third
    # 0,0,0,1,..,4; the target length is 1.5 x 2 ASR words = 3 tokens, reached only at 1.5, 0.5 and 2.5 resp.
    offsets = {"low": -0.75, "mid": 0.25, "high": 1.25}
    st = toy_translations(offsets, DEFAULT_GRID)
    lengths = {u: [len(st[p][u].split()) for p in DEFAULT_GRID] for u in offsets}
    assert lengths == {"low": [2, 3, 4, 5, 6, 7, 8], "mid": [0, 1, 2, 3, 4, 5, 6], "high": [0, 0, 0, 1, 2, 3, 4]}
    for u, offset in offsets.items():  # brute force over the grid: exactly one penalty yields 3 tokens
        assert [p for p in DEFAULT_GRID if sum(offset + MARGIN_STEP * t < p for t in range(FRAMES)) == 3] == \
            [p for p in DEFAULT_GRID if len(st[p][u].split()) == 3]
    asr = {u: "dos palabras" for u in offsets}
    choice = choose_penalties(st, target_estimates(asr, ratio=1.5, source_unit="word"))
    assert choice == {"low": 0.5, "mid": 1.5, "high": 2.5}
    assert all(len(text.split()) == 3 for text in select_hypotheses(st, choice).values())
    # no constant penalty gets every utterance to its target length
    assert not any(all(len(st[p][u].split()) == 3 for u in offsets) for p in DEFAULT_GRID)
    assert penalty_histogram(choice, DEFAULT_GRID) == {"0": 0, "0.5": 1, "1": 0, "1.5": 1, "2": 0, "2.5": 1, "3": 0}


def test_equal_distances_go_to_the_anchor_or_the_smaller_penalty_and_characters_count_for_char_units():
    st = toy_translations({"u": 0.25}, DEFAULT_GRID)  # 0, 1, 2, ... tokens at 0, 0.5, 1, ...
    # 2.5 lies between 2 tokens (p = 1) and 3 tokens (p = 1.5)
    five_words = target_estimates({"u": "a b c d e"}, ratio=0.5, source_unit="word")
    assert five_words == {"u": 2.5}
    assert choose_penalties(st, five_words) == {"u": 1.0}
    # with the dev-best constant penalty as anchor, the tie goes to the penalty closest to it
    assert choose_penalties(st, five_words, anchor=3.0) == {"u": 1.5}
    assert choose_penalties(st, five_words, anchor=1.2) == {"u": 1.0}
    # the same translation at every penalty: every distance ties, so the anchor is chosen
    same = {p: {"u": "x y"} for p in DEFAULT_GRID}
    assert choose_penalties(same, {"u": 1.0}, anchor=2.5) == {"u": 2.5}
    # five characters, white space ignored: 0.6 x 5 = 3 tokens, p = 1.5
    five_chars = target_estimates({"u": "这 是一本书"}, ratio=0.6, source_unit="char")
    assert five_chars == {"u": pytest.approx(3.0)}
    assert choose_penalties(st, five_chars) == {"u": 1.5}


def hand_built_dev() -> tuple[dict, dict, list[list[str]], list[str]]:
    """Three utterances with 2, 4 and 6 ASR words and references twice as long; at the k-th penalty of the grid
    each translation has the reference's length + (k - 3) words (cut short, or with junk appended), so only the
    4th penalty (1.5) reproduces the references, and r = 2 picks it for every utterance."""
    ids = ["a", "b", "c"]
    asr = {u: " ".join(f"s{j}" for j in range(m)) for u, m in zip(ids, (2, 4, 6))}
    refs = {u: [f"{u}{j}" for j in range(2 * m)] for u, m in zip(ids, (2, 4, 6))}
    st = {}
    for k, p in enumerate(DEFAULT_GRID):
        extra = k - 3
        st[p] = {u: " ".join(r[:len(r) + extra] if extra < 0 else r + ["junk"] * extra) for u, r in refs.items()}
    return st, asr, [[" ".join(refs[u]) for u in ids]], ids


def test_tuning_finds_the_ratio_of_a_hand_built_dev_set():
    st, asr, refs, ids = hand_built_dev()
    params = tune(st, asr, refs, ids, "word")
    assert params.reference_ratio == pytest.approx(24 / 12)
    assert params.ratio == pytest.approx(2.0)
    assert params.dev_bleu_adaptive == pytest.approx(100.0)
    assert params.dev_best_penalty == 1.5 and params.dev_bleu_by_penalty["1.5"] == pytest.approx(100.0)
    assert params.dev_bleu_by_scale["0.8"] < 100.0 and params.dev_bleu_by_scale["1.2"] < 100.0
    assert params.grid == DEFAULT_GRID and params.num_refs == 1 and params.num_dev_utterances == 3
    assert "nrefs:1" in params.bleu_signature


def test_tuning_prefers_the_reference_ratio_among_equal_scores():
    # every translation is the reference whatever the penalty: all scales score 100, the scale 1 wins
    ids = ["a", "b"]
    refs = [["x y z w", "x y"]]
    st = {p: {"a": "x y z w", "b": "x y"} for p in (0.0, 1.0)}
    params = tune(st, {"a": "p q", "b": "p"}, refs, ids, "word")
    assert params.ratio == pytest.approx(params.reference_ratio) == pytest.approx(2.0)
    assert params.dev_best_penalty == 0.0


def test_tuning_refuses_empty_asr_hypotheses():
    with pytest.raises(ValueError, match="ASR hypotheses of the dev set are all empty"):
        tune({0.0: {"a": "x"}, 1.0: {"a": "x y"}}, {"a": ""}, [["x"]], ["a"], "word")


def test_the_parameter_file_round_trips_and_damage_is_named(tmp_path):
    st, asr, refs, ids = hand_built_dev()
    params = tune(st, asr, refs, ids, "word")
    path = tmp_path / "adaptive.json"
    write_params(path, params)
    assert read_params(path, "CMD") == params
    with pytest.raises(ValueError, match=r"adaptive-missing.json, which are missing: tune them on a dev set first "
                                         r"with CMD"):
        read_params(tmp_path / "adaptive-missing.json", "CMD")
    data = json.loads(path.read_text())
    del data["ratio"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="is not a tuned adaptive-penalty file .*tune it again with CMD"):
        read_params(path, "CMD")


# ---------------------------------------------------------------------------------------------------------
# the command line


@pytest.fixture(scope="module")
def tone_set(tones, helpers, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adaptive_set")
    helpers.audio_cuts(list(tones.values())).to_file(root / "raw.jsonl.gz")
    return compute_features(root / "raw.jsonl.gz", root, "tones")


def decode(exp_dir: Path, cuts: Path, out: Path, *extra: str) -> int:
    return cli.main(["decode", "--exp-dir", str(exp_dir), "--checkpoint", str(exp_dir / "epoch-2.pt"),
                     "--cuts", str(cuts), "--out-dir", str(out), "--max-sym-per-frame", "1", *extra])


@pytest.mark.usefixtures("one_thread")
def test_decode_without_tuned_parameters_exits_2_naming_the_file_and_the_command(tiny_exp, tone_set, tmp_path,
                                                                                  capsys):
    missing = tmp_path / "none.json"
    assert decode(tiny_exp.dir, tone_set, tmp_path, "--blank-penalty", "adaptive", "--adaptive-params",
                  str(missing)) == 2
    err = capsys.readouterr().err
    assert f"needs its tuned parameters {missing}, which are missing" in err
    assert "--blank-penalty adaptive --tune-adaptive-on CUTS_DEV" in err
    assert decode(tiny_exp.dir, tone_set, tmp_path, "--tune-adaptive-on", str(tone_set)) == 2
    assert "need --blank-penalty adaptive" in capsys.readouterr().err


@pytest.mark.usefixtures("one_thread")
def test_tune_on_dev_then_decode_test_writes_the_adaptive_row(tiny_exp, tone_set, tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    common = ["--blank-penalty", "adaptive", "--results-file", str(results), "--results-name", "tiny"]
    assert decode(tiny_exp.dir, tone_set, tmp_path, *common, "--tune-adaptive-on", str(tone_set),
                  "--adaptive-grid", "0,1,2") == 0
    tag = "greedy-sym1-epoch-2"
    params = read_params(tiny_exp.dir / f"adaptive-blank-penalty-{tag}.json", "CMD")
    assert isinstance(params, AdaptivePenalty) and params.grid == (0.0, 1.0, 2.0)
    assert params.setting_tag == tag and params.dev_set == str(tone_set)
    summary = json.loads((tmp_path / f"summary-tones-{tag}.json").read_text())
    assert [row["blank_penalty"] for row in summary["st"]] == [0.0, 1.0, 2.0]
    adaptive = summary["st_adaptive"]
    assert sum(adaptive["histogram"].values()) == 3 and adaptive["ratio"] == pytest.approx(params.ratio)
    chosen = {utt: float(fields.split()[0].removeprefix("penalty="))
              for utt, fields in read_kaldi_text(tmp_path / f"penalties-st-tones-{tag}-adaptive.txt").items()}
    assert len(chosen) == 3 and adaptive["mean_penalty"] == pytest.approx(sum(chosen.values()) / 3)
    best = next(r for r in summary["st"] if r["blank_penalty"] == params.dev_best_penalty)
    assert adaptive["dev_best_constant"]["bleu"] == best["bleu"]
    hyps = read_kaldi_text(tmp_path / f"hyps-st-tones-{tag}-bpadaptive.txt")
    for utt, p in chosen.items():  # each chosen translation is that penalty's own
        assert hyps[utt] == read_kaldi_text(tmp_path / f"hyps-st-tones-{tag}-bp{p:g}.txt")[utt]
    text = results.read_text()
    assert "## tiny — greedy search (max 1 symbols/frame), epoch-2, adaptive ST blank penalty" in text
    assert "| greedy | adaptive |" in text and "Adaptive ST blank penalty on tones" in text
    # decoding again reads the tuned file; a grid is refused there, and so is another unit
    assert decode(tiny_exp.dir, tone_set, tmp_path, *common) == 0
    assert decode(tiny_exp.dir, tone_set, tmp_path, *common, "--adaptive-grid", "0,1") == 2
    assert "--adaptive-grid is used when tuning" in capsys.readouterr().err
    assert decode(tiny_exp.dir, tone_set, tmp_path, *common, "--unit", "char") == 2
    assert "was tuned with --unit word, this decode has --unit char" in capsys.readouterr().err


def test_the_adaptive_row_is_scored_split_by_reordering_and_tabled(tmp_path):
    # three utterances with recorded crossings; at penalty 0 the translations are one word short, at 1 exact and at 2
    # one junk word long, so r = 1 word per ASR word chooses 1 everywhere and scores the references themselves
    pairs = [("uno dos tres cuatro", "one two three four", 0), ("la casa roja es grande", "the red house is big", 1),
             ("el libro de mi hermano", "the book of my brother", 3)]
    cuts = []
    for i, (text, translation, crossings) in enumerate(pairs):
        sup = make_supervision(f"u{i}", f"u{i}", 0.0, 1.0, 0, text, "es", translation)
        sup.custom[NUM_CROSSINGS] = crossings
        cuts.append(MonoCut(id=f"u{i}", start=0.0, duration=1.0, channel=0, supervisions=[sup]))
    refs = {f"u{i}": p[1] for i, p in enumerate(pairs)}
    st = {0.0: {u: " ".join(r.split()[:-1]) for u, r in refs.items()}, 1.0: dict(refs),
          2.0: {u: r + " uh" for u, r in refs.items()}}
    hyps = Hypotheses(asr={f"u{i}": p[0] for i, p in enumerate(pairs)}, st=st, audio_seconds=3.0)
    params = AdaptivePenalty(grid=(0.0, 1.0, 2.0), ratio=1.0, source_unit="word", reference_ratio=1.0,
                             dev_best_penalty=2.0, dev_bleu_adaptive=0.0, dev_set="dev.jsonl.gz")
    summary = score_and_write(hyps, cuts, "test", tmp_path, adaptive=params)
    row = summary["st_adaptive"]
    assert row["bleu"] == pytest.approx(100.0) and row["histogram"] == {"0": 0, "1": 3, "2": 0}
    assert row["mean_penalty"] == 1.0 and row["dev_best_constant"]["blank_penalty"] == 2.0
    assert row["dev_best_constant"]["bleu"] == summary["st"][2]["bleu"] < 100.0
    expected = reordering_scores([refs[u] for u in sorted(refs)], [[refs[u] for u in sorted(refs)]],
                                 [p[2] for p in pairs])
    assert row["reordering"] == json.loads(json.dumps(expected))
    section = format_section("tiny — greedy", "greedy", [summary], "c", ["hent-srt decode ..."])
    rows = [line for line in section.splitlines() if line.startswith("| greedy | adaptive |")]
    assert len(rows) == 2  # the main table and the split table
    assert rows[0].split(" | ")[3:6] == ["100.00", f"{row['chrf']:.2f}", "1.000"]
    assert "The dev-best constant penalty 2 scores BLEU" in section and "adaptive 100.00" in section
    # the length estimates: r x ASR words = 4, 5, 5 against references of 4, 5, 5 words, so no error; with r = 2
    # they are 8, 10, 10, off by 4, 5 and 5
    assert row["length_estimate_error"] == 0.0 and "miss the reference length by 0.00 words" in section
    doubled = score_and_write(hyps, cuts, "test", tmp_path / "r2", adaptive=replace(params, ratio=2.0))
    assert doubled["st_adaptive"]["length_estimate_error"] == pytest.approx(14 / 3)


# ---------------------------------------------------------------------------------------------------------
# the ST CTC estimator


def test_the_st_ctc_estimator_tunes_on_target_words_and_its_file_round_trips(tmp_path):
    st, _, refs, ids = hand_built_dev()
    # CTC texts half as long as the references: r_ref = 2, and the 4th penalty is again chosen everywhere
    ctc = {u: " ".join(r.split()[::2]) for u, r in zip(ids, refs[0])}
    params = tune(st, ctc, refs, ids, "word", estimator=ST_CTC)
    assert params.estimator == ST_CTC and params.ratio == pytest.approx(2.0)
    assert params.dev_bleu_adaptive == pytest.approx(100.0)
    path = tmp_path / "adaptive.json"
    write_params(path, params)
    assert read_params(path, "CMD") == params
    with pytest.raises(ValueError, match="counts target words, so its unit is 'word'"):
        tune(st, ctc, refs, ids, "char", estimator=ST_CTC)
    with pytest.raises(ValueError, match="estimator must be one of"):
        tune(st, ctc, refs, ids, "word", estimator="oracle")
    with pytest.raises(ValueError, match="ST CTC hypotheses of the dev set are all empty"):
        tune(st, dict.fromkeys(ids, ""), refs, ids, "word", estimator=ST_CTC)
    data = json.loads(path.read_text())
    data["source_unit"] = "char"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"holds estimator 'st_ctc', unit 'char'.*tune it again with CMD"):
        read_params(path, "CMD")


def best_path_texts(exp, cuts: Path) -> dict[str, str]:
    """The ST CTC head's best path written out independently: per frame the argmax, runs merged by groupby,
    blanks dropped, then the target tokenizer's text."""
    tok = spm.SentencePieceProcessor(model_file=exp.config.data.tgt_bpe_model)
    out = {}
    with torch.no_grad():
        for cut in read_cuts(cuts):
            feats = torch.from_numpy(cut.load_features()).unsqueeze(0)
            enc = exp.model.encode(feats, torch.tensor([feats.size(1)]))["st"]
            frames = exp.model.heads["st"].ctc_output(enc.out)[0, :int(enc.lens[0])].argmax(-1).tolist()
            out[cut.id] = tok.decode([s for s, _ in itertools.groupby(frames) if s != 0])
    return out


@pytest.mark.usefixtures("one_thread")
def test_decode_cuts_adds_the_st_ctc_best_path_and_leaves_the_transducer_output_alone(tiny_exp, tone_set):
    cuts = read_cuts(tone_set).to_eager()
    src, tgt = Tokenizer(tiny_exp.config.data.src_bpe_model), Tokenizer(tiny_exp.config.data.tgt_bpe_model)
    plain = decode_cuts(tiny_exp.model, cuts, src, tgt, blank_penalties_st=(0.0, 1.0), max_sym_per_frame=2)
    with_ctc = decode_cuts(tiny_exp.model, cuts, src, tgt, blank_penalties_st=(0.0, 1.0), max_sym_per_frame=2,
                           st_ctc=True)
    assert with_ctc.asr == plain.asr and with_ctc.st == plain.st and not plain.st_ctc
    assert with_ctc.st_ctc == best_path_texts(tiny_exp, tone_set)
    assert any(with_ctc.st_ctc.values())  # the random head emits something, so the comparison has content
    without = copy.deepcopy(tiny_exp.model)
    without.heads["st"].ctc_output = None
    with pytest.raises(ValueError, match="the st head of this model has no CTC output .*model.use_ctc: true"):
        decode_cuts(without, cuts, src, tgt, st_ctc=True)


@pytest.mark.usefixtures("one_thread")
def test_tune_and_decode_with_the_st_ctc_estimator(tiny_exp, tone_set, tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    common = ["--blank-penalty", "adaptive", "--results-file", str(results), "--results-name", "tiny",
              "--adaptive-params", str(tmp_path / "ctc.json")]
    assert decode(tiny_exp.dir, tone_set, tmp_path, *common, "--tune-adaptive-on", str(tone_set),
                  "--adaptive-grid", "0,1,2", "--adaptive-estimator", ST_CTC, "--unit", "char") == 0
    params = read_params(tmp_path / "ctc.json", "CMD")
    assert params.estimator == ST_CTC and params.source_unit == "word"
    tag = "greedy-sym1-epoch-2"
    ctc = read_kaldi_text(tmp_path / f"hyps-st-ctc-tones-{tag}.txt")
    assert ctc == best_path_texts(tiny_exp, tone_set)
    for utt, fields in read_kaldi_text(tmp_path / f"penalties-st-tones-{tag}-adaptive.txt").items():
        estimate = float(fields.split()[1].removeprefix("target_estimate="))
        assert estimate == pytest.approx(params.ratio * len(ctc[utt].split()), abs=0.05)
    summary = json.loads((tmp_path / f"summary-tones-{tag}.json").read_text())
    assert summary["st_adaptive"]["estimator"] == ST_CTC
    assert "× its ST CTC hypothesis length in words" in results.read_text()
    # decoding reads the estimator from the file (the ASR unit does not matter to it); naming one is refused
    assert decode(tiny_exp.dir, tone_set, tmp_path, *common) == 0
    assert decode(tiny_exp.dir, tone_set, tmp_path, *common, "--adaptive-estimator", ST_CTC) == 2
    assert "--adaptive-estimator is used when tuning" in capsys.readouterr().err
