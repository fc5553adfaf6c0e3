"""``hent-srt decode``: decode test sets with both heads, score, and sweep the ST blank penalty.

The weights: ``--checkpoint FILE``, or ``--epoch E --avg A [--use-averaged-model]`` to average the
``epoch-N.pt`` files of ``--exp-dir`` as icefall's decode.py does (:mod:`hent_srt.train.weights`), or by default
``EXP_DIR/pretrained.pt`` (an ``import-icefall`` directory) else ``EXP_DIR/averaged.pt``. Checkpoints are read as
data only; icefall-named weights are renamed; weights that do not fit the config are refused with the config
fields they contradict. icefall's flag names work as aliases (``--decoding-method greedy_search |
modified_beam_search``, ``--beam-size``, ``--st-blank-penalty``, ``--max-sym-per-frame``).

For each test set (a cut manifest) the encoders run once per batch; the ASR head is searched with its blank
penalty and each ST blank penalty of the sweep reuses the same encoder output. Every file name carries the test
set and the setting's tag ``TAG`` (method, beam or symbols per frame, weights, chunking:
:mod:`hent_srt.decode.setting`), so decodes with other settings are kept beside it. Written to ``--out-dir``:

- ``hyps-asr-<set>-TAG.txt``, ``errs-asr-<set>-TAG.txt`` (WER/CER details), ``refs-asr-<set>.txt``;
- ``hyps-st-<set>-TAG-bp<P>.txt``, ``bleu-st-<set>-TAG-bp<P>.txt`` (BLEU and chrF++ with sacrebleu signatures,
  number of references, length ratio), ``refs-st-<set>.txt`` (first reference);
- ``summary-<set>-TAG.json`` (every number, the setting, the real-time factor with the device and torch's CPU
  thread count it was measured on: ``--num-threads N`` pins that count, 0 keeps torch's default) and, with several
  penalties,
  ``blank-penalty-<set>-TAG.png`` (BLEU and length ratio against the penalty; skipped with a warning without
  matplotlib, the ``plot`` extra).

``--blank-penalty adaptive`` chooses the ST penalty per utterance (:mod:`hent_srt.decode.adaptive`): the grid of
penalties is decoded as a sweep, and each utterance takes the penalty whose translation length is closest to
r times the length of its ASR hypothesis (``--adaptive-estimator asr_length``) or of the ST head's best-path CTC
output (``st_ctc``, from the same encoder pass; written to ``hyps-st-ctc-<set>-TAG.txt``); ties go to the
penalty closest to the dev-best constant one. r is tuned on a dev set only: ``--tune-adaptive-on CUTS_DEV``
decodes the dev set at the grid (``--adaptive-grid``, default 0,0.5,...,3; its files are written as a sweep's),
tunes r and writes it, with the estimator and the dev-best constant penalty, to
``EXP_DIR/adaptive-blank-penalty-TAG.json`` (or ``--adaptive-params FILE``), then decodes the test sets; without
it the file is read. Each test set then also gets ``hyps-st-<set>-TAG-bpadaptive.txt``,
``bleu-st-<set>-TAG-bpadaptive.txt``, ``penalties-st-<set>-TAG-adaptive.txt`` (the penalty each utterance chose,
its length estimate and translation length) and the summary's ``st_adaptive`` entry: the scores, the chosen
penalties' mean and histogram, and the dev-best constant penalty's scores on the same test set.

``--tune-blank-penalty-asr-on CUTS_DEV`` chooses the ASR blank penalty first: the grid of
``--blank-penalty-asr-grid`` (default 0,0.5,...,3) decoded on the dev set by the ASR head alone, the penalty with
the lowest dev error rate taken (:mod:`hent_srt.decode.asr_penalty`), written to
``EXP_DIR/asr-blank-penalty-TAG.json`` and to each summary's ``asr.blank_penalty_tuning``; the test sets (and the
adaptive penalty's tuning) are then decoded at it, so their files carry ``asrbp<P>-tuned`` in the tag.

``--results-file`` writes one RESULTS.md section per model and setting (heading ``<results-name> — <setting>``):
decoding again with the same setting replaces its section, another setting adds one.

With ``--streaming`` (causal models) the utterances are decoded chunk by chunk as concurrent
:class:`hent_srt.decode.streaming.Stream` objects (greedy search; the same hypotheses as the chunk-masked
simulated streaming forward), and each ST row also reports the latency of :mod:`hent_srt.decode.latency`
(mean first-token delay and average lagging, seconds), with per-utterance values in
``latency-st-<set>-TAG-bp<P>.txt``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.utils import compute_num_frames

from hent_srt.argtypes import finite_float, int_at_least, positive_float
from hent_srt.config import Config, load_experiment_config
from hent_srt.data.corpora.synth import num_crossings
from hent_srt.data.features import check_feature_manifest
from hent_srt.data.loader import make_dataloader
from hent_srt.data.manifest import read_cuts
from hent_srt.data.schema import target_refs
from hent_srt.data.text import NORMALIZERS, get_normalizer
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.decode.adaptive import (
    ADAPTIVE,
    ASR_LENGTH,
    DEFAULT_GRID,
    ESTIMATORS,
    ST_CTC,
    AdaptivePenalty,
    choose_penalties,
    estimator_unit,
    params_file_name,
    penalty_histogram,
    read_params,
    select_hypotheses,
    target_estimates,
    tune,
    write_params,
)
from hent_srt.decode.asr_penalty import DEFAULT_ASR_GRID, AsrPenaltyChoice, choice_file_name, write_choice
from hent_srt.decode.latency import summarize_latency, utterance_latency
from hent_srt.decode.results import format_section, section_heading, write_section
from hent_srt.decode.runtimes import SEARCH_METHODS, ModelRuntime, search_heads
from hent_srt.decode.setting import DecodeSetting, weights_tag
from hent_srt.decode.streaming import StreamingDecoder
from hent_srt.fileio import DirectoryLock, atomic_path, require_output_file, write_text_atomic
from hent_srt.metrics import (
    ErrorRate,
    TranslationScore,
    error_rate,
    format_error_details,
    reordering_scores,
    translation_score,
)
from hent_srt.model.arch import check_fits, shapes_of
from hent_srt.model.hent import HentSrt, build_model
from hent_srt.train.icefall import PRETRAINED_NAME, is_icefall_named, to_hent_names
from hent_srt.train.weights import Weights, add_averaging_arguments, read_weights

log = logging.getLogger(__name__)


@dataclass
class Hypotheses:
    """Decoded text of one test set: ``asr[cut_id]`` and ``st[penalty][cut_id]``; audio and compute seconds.

    Streaming decoding also fills ``st_delays[penalty][cut_id]`` (emission time of each ST token, seconds) and
    ``source_seconds[cut_id]``; ``st_ctc[cut_id]`` is the ST head's best-path CTC text when it was asked for;
    ``asr_sweep[penalty][cut_id]`` the ASR text at each penalty of an ASR blank-penalty sweep. ``device`` and
    ``num_threads`` (torch's intra-op CPU threads) are what the compute seconds were measured on (None: not measured)."""

    asr: dict[str, str] = field(default_factory=dict)
    asr_sweep: dict[float, dict[str, str]] = field(default_factory=dict)
    st: dict[float, dict[str, str]] = field(default_factory=dict)
    st_ctc: dict[str, str] = field(default_factory=dict)
    audio_seconds: float = 0.0
    compute_seconds: float = 0.0
    device: str | None = None
    num_threads: int | None = None
    st_delays: dict[float, dict[str, list[float]]] = field(default_factory=dict)
    source_seconds: dict[str, float] = field(default_factory=dict)


@torch.no_grad()
def decode_cuts(
    model: HentSrt,
    cuts: CutSet,
    src_tok: Tokenizer,
    tgt_tok: Tokenizer | None,
    method: str = "greedy",
    beam: int = 4,
    blank_penalty_asr: float = 0.0,
    blank_penalties_st: tuple[float, ...] = (1.0,),
    max_sym_per_frame: int = 1,
    max_duration: float = 100.0,
    on_the_fly: bool = False,
    st_ctc: bool = False,
    asr_sweep: tuple[float, ...] = (),
) -> Hypotheses:
    """Decode ``cuts`` with every task head of ``model`` (in eval mode); see the module docstring. ``st_ctc``: also
    the best-path output of the ST head's CTC layer, from the same encoder pass (ValueError without one);
    ``asr_sweep``: also the ASR head at each of these blank penalties (``Hypotheses.asr_sweep``), from that
    encoder output too; ``tgt_tok`` None decodes the ASR head only."""
    if method not in SEARCH_METHODS:
        raise ValueError(f"method must be one of {SEARCH_METHODS}, got {method!r}")
    runtime = ModelRuntime(model)
    device = next(model.parameters()).device
    penalties = {"asr": tuple(dict.fromkeys((blank_penalty_asr, *asr_sweep)))}
    if tgt_tok is not None:
        penalties["st"] = tuple(blank_penalties_st)
    penalties = {t: p for t, p in penalties.items() if t in runtime.tasks}
    loader = make_dataloader(cuts, src_tok, tgt_tok, max_duration=max_duration, shuffle=False,
                             on_the_fly=on_the_fly)
    out = Hypotheses(st={p: {} for p in blank_penalties_st}, asr_sweep={p: {} for p in asr_sweep},
                     device=str(device), num_threads=torch.get_num_threads())
    start = time.perf_counter()
    for batch in loader:
        batch = batch.to(device)
        out.audio_seconds += float(batch.feature_lens.sum()) / 100.0
        encoded = None
        if st_ctc:
            encoded, ctc = runtime.encode_with_ctc(batch.features, batch.feature_lens, ("st",))
            out.st_ctc.update(zip(batch.cut_ids, tgt_tok.decode(ctc["st"])))
        hyps = search_heads(runtime, batch.features, batch.feature_lens, penalties, method, beam, max_sym_per_frame,
                            encoded)
        if "asr" in hyps:
            out.asr.update(zip(batch.cut_ids, src_tok.decode(hyps["asr"][blank_penalty_asr])))
            for penalty in asr_sweep:
                out.asr_sweep[penalty].update(zip(batch.cut_ids, src_tok.decode(hyps["asr"][penalty])))
        for penalty, ids in hyps.get("st", {}).items():
            out.st[penalty].update(zip(batch.cut_ids, tgt_tok.decode(ids)))
    out.compute_seconds = time.perf_counter() - start
    return out


@torch.no_grad()
def decode_cuts_streaming(
    model: HentSrt,
    cuts: CutSet,
    src_tok: Tokenizer,
    tgt_tok: Tokenizer | None,
    chunk_size: int | None = None,
    left_context_frames: int | None = None,
    st_chunk_size: int | None = None,
    st_left_context_frames: int | None = None,
    blank_penalty_asr: float = 0.0,
    blank_penalties_st: tuple[float, ...] = (2.0,),
    max_sym_per_frame: int = 20,
    max_duration: float = 100.0,
    on_the_fly: bool = False,
) -> Hypotheses:
    """Decode ``cuts`` with a causal ``model`` as concurrent streams (one per utterance of each loader batch),
    feeding each one chunk of features per round (see :class:`StreamingDecoder`). Chunk arguments are frames at
    50 Hz (None: the encoder configs' eval values); ``max_sym_per_frame`` applies to both heads."""
    decoder = StreamingDecoder(
        model, chunk_size, left_context_frames, st_chunk_size, st_left_context_frames,
        blank_penalty_asr=blank_penalty_asr, blank_penalties_st=blank_penalties_st,
        max_sym_per_frame_asr=max_sym_per_frame, max_sym_per_frame_st=max_sym_per_frame,
    )
    device = decoder.device
    loader = make_dataloader(cuts, src_tok, tgt_tok, max_duration=max_duration, shuffle=False,
                             on_the_fly=on_the_fly)
    st_keys = [p for task, p in decoder.searches if task == "st"] if tgt_tok is not None else []
    out = Hypotheses(st={p: {} for p in st_keys}, st_delays={p: {} for p in st_keys}, device=str(device),
                     num_threads=torch.get_num_threads())
    start = time.perf_counter()
    for batch in loader:
        lens = batch.feature_lens.tolist()
        feats = [batch.features[b, :n] for b, n in enumerate(lens)]
        streams = decoder.decode_features([f.to(device) for f in feats], batch.cut_ids)
        out.audio_seconds += sum(lens) * decoder.frame_shift
        for stream, n in zip(streams, lens):
            out.source_seconds[stream.stream_id] = n * decoder.frame_shift
            if "asr" in model.cfg.tasks:
                out.asr[stream.stream_id] = stream.text(src_tok, "asr")
            for p in st_keys:
                out.st[p][stream.stream_id] = stream.text(tgt_tok, "st", p)
                out.st_delays[p][stream.stream_id] = list(stream.times("st", p))
    out.compute_seconds = time.perf_counter() - start
    return out


def _write_text(path: Path, lines: dict[str, str]) -> None:
    """Kaldi-style ``utt-id text`` lines, sorted by id, written atomically."""
    write_text_atomic(path, "".join(f"{k} {v}\n" for k, v in sorted(lines.items())))


def _write_plot(path: Path, penalties: list[float], bleu: list[float], ratio: list[float], title: str) -> bool:
    """BLEU and length ratio against the blank penalty as a PNG; False (with a warning) without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        log.warning("matplotlib is not installed, so %s was not drawn (the numbers are in the summary); "
                    "pip install 'hent-srt[plot]' for the plot", path.name)
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(penalties, bleu, "o-", color="tab:blue", label="BLEU")
    ax.set_xlabel("blank penalty")
    ax.set_ylabel("BLEU", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(penalties, ratio, "s--", color="tab:red", label="length ratio")
    ax2.set_ylabel("hyp/ref length ratio", color="tab:red")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return True


def score_asr(by_id: dict[str, Cut], hyps: dict[str, str], src_norm: Callable[[str], str],
              unit: str) -> tuple[dict[str, str], dict[str, str], ErrorRate]:
    """The normalised transcripts and ASR hypotheses of the cut ids of ``hyps``, and their error rate."""
    ids = sorted(hyps)
    refs = {i: src_norm(by_id[i].supervisions[0].text) for i in ids}
    hyp_text = {i: src_norm(hyps[i]) for i in ids}
    return refs, hyp_text, error_rate([refs[i] for i in ids], [hyp_text[i] for i in ids], ids, unit=unit)


def score_and_write(
    hyps: Hypotheses,
    cuts: CutSet,
    set_name: str,
    out_dir: Path,
    src_normalizer: str = "none",
    tgt_normalizer: str = "none",
    unit: str = "word",
    setting: DecodeSetting | None = None,
    adaptive: AdaptivePenalty | None = None,
    asr_choice: AsrPenaltyChoice | None = None,
) -> dict:
    """Write the files of the module docstring (names carrying ``setting.tag()`` when given); return the summary.

    With ``adaptive`` (its grid decoded in ``hyps.st``) the summary also holds ``st_adaptive``; with
    ``asr_choice`` (the ASR blank penalty tuned on dev) ``asr.blank_penalty_tuning``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    src_norm, tgt_norm = get_normalizer(src_normalizer), get_normalizer(tgt_normalizer)
    by_id = {c.id: c for c in cuts}
    key = f"{set_name}-{setting.tag()}" if setting is not None else set_name
    summary: dict = {
        "set": set_name, "num_utterances": len(by_id), "audio_seconds": hyps.audio_seconds,
        "rtf": hyps.compute_seconds / max(hyps.audio_seconds, 1e-9), "rtf_device": hyps.device,
        "rtf_torch_num_threads": hyps.num_threads, "src_normalizer": src_normalizer,
        "tgt_normalizer": tgt_normalizer,
    }
    if setting is not None:
        summary["setting"] = setting.as_dict()
    if hyps.asr:
        refs, hyp_text, result = score_asr(by_id, hyps.asr, src_norm, unit)
        _write_text(out_dir / f"hyps-asr-{key}.txt", hyp_text)
        _write_text(out_dir / f"refs-asr-{set_name}.txt", refs)
        write_text_atomic(out_dir / f"errs-asr-{key}.txt", format_error_details(result))
        summary["asr"] = {"metric": result.metric, "error_rate": result.rate,
                          "summary": result.summary()}
        if asr_choice is not None:
            summary["asr"]["blank_penalty_tuning"] = asr_choice.as_dict()
    st_rows = []
    normalized_st = {}
    decoded = {p: h for p, h in sorted(hyps.st.items()) if h}
    if decoded:
        # every penalty decodes the same cuts: normalise and write the references once
        ids = sorted(next(iter(decoded.values())))
        streams = reference_streams(by_id, ids, tgt_norm)
        _write_text(out_dir / f"refs-st-{set_name}.txt", dict(zip(ids, streams[0])))
        crossings = [num_crossings(by_id[i]) for i in ids]
    for penalty, st_hyps in decoded.items():
        hyp_text = {i: tgt_norm(st_hyps[i]) for i in ids}
        normalized_st[penalty] = hyp_text
        score = translation_score([hyp_text[i] for i in ids], streams)
        tag = f"{key}-bp{penalty:g}"
        _write_text(out_dir / f"hyps-st-{tag}.txt", hyp_text)
        write_text_atomic(out_dir / f"bleu-st-{tag}.txt", score.summary() + "\n" + score.bleu_detail + "\n")
        row = {"blank_penalty": penalty, **_score_fields(score)}
        if None not in crossings:  # the corpus records the reordering of each segment (the synthetic one does)
            row["reordering"] = reordering_scores([hyp_text[i] for i in ids], streams, crossings)
        if hyps.st_delays.get(penalty):
            per_utt = {i: utterance_latency(hyps.st_delays[penalty][i], hyps.source_seconds[i]) for i in ids}
            row["latency"] = summarize_latency(per_utt)
            _write_text(out_dir / f"latency-st-{tag}.txt", {
                i: f"first_token_delay={_fmt(u.first_token_delay)} average_lagging={_fmt(u.average_lagging)} "
                   f"tokens={u.num_tokens} source_seconds={u.source_seconds:.2f}"
                for i, u in per_utt.items()
            })
        st_rows.append(row)
    if st_rows:
        summary["st"] = st_rows
    if hyps.st_ctc:
        _write_text(out_dir / f"hyps-st-ctc-{key}.txt", {i: tgt_norm(t) for i, t in hyps.st_ctc.items()})
    if adaptive is not None:
        if not hyps.asr or not st_rows:
            raise ValueError("--blank-penalty adaptive needs a model with both an ASR and an ST head")
        texts = length_texts(hyps, ids, adaptive.estimator, src_norm, tgt_norm)
        summary["st_adaptive"] = _score_adaptive(adaptive, normalized_st, texts, streams, crossings, st_rows,
                                                 out_dir, key)
    write_text_atomic(out_dir / f"summary-{key}.json", json.dumps(summary, indent=2, ensure_ascii=False))
    if len(st_rows) > 1:
        _write_plot(out_dir / f"blank-penalty-{key}.png", [r["blank_penalty"] for r in st_rows],
                    [r["bleu"] for r in st_rows], [r["length_ratio"] for r in st_rows],
                    f"ST blank penalty sweep ({set_name})")
    return summary


def length_texts(hyps: Hypotheses, ids: list[str], estimator: str, src_norm: Callable[[str], str],
                 tgt_norm: Callable[[str], str]) -> dict[str, str]:
    """The adaptive penalty's estimator text s_u of each of ``ids`` (:mod:`hent_srt.decode.adaptive`): the
    normalised ASR hypothesis (``asr_length``) or the normalised ST CTC hypothesis (``st_ctc``)."""
    if estimator == ST_CTC:
        missing = [i for i in ids if i not in hyps.st_ctc]
        if missing:
            raise ValueError(f"the {ST_CTC} estimator needs the ST CTC hypotheses, missing for {missing[:3]}")
        return {i: tgt_norm(hyps.st_ctc[i]) for i in ids}
    return {i: src_norm(hyps.asr[i]) for i in ids}


def reference_streams(by_id: dict[str, Cut], ids: list[str], normalizer: Callable[[str], str]) -> list[list[str]]:
    """The normalised target references of ``ids`` as sacrebleu streams: ``streams[k][i]`` is reference k of
    ``ids[i]`` (as many streams as the utterance with the fewest references has)."""
    ref_lists = [[normalizer(r) for r in target_refs(by_id[i])] for i in ids]
    num_refs = min(len(r) for r in ref_lists)
    return [[refs[k] for refs in ref_lists] for k in range(num_refs)]


def _score_fields(score: TranslationScore) -> dict:
    """The scores of one ST row of the summary."""
    return {"bleu": score.bleu, "chrf": score.chrf, "length_ratio": score.length_ratio,
            "bleu_signature": score.bleu_signature, "chrf_signature": score.chrf_signature,
            "num_refs": score.num_refs}


def _score_adaptive(
    params: AdaptivePenalty,
    st_hyps: dict[float, dict[str, str]],
    texts: dict[str, str],
    streams: list[list[str]],
    crossings: list[int | None],
    st_rows: list[dict],
    out_dir: Path,
    key: str,
) -> dict:
    """Choose each utterance's penalty with ``params``, score the chosen translations and write their files; the
    ``st_adaptive`` summary entry (scores, chosen penalties, the dev-best constant penalty's row, and
    ``length_estimate_error``: the mean of |L̂_u − |y_u|| in words over the first reference y); ``texts``: the
    estimator text of each utterance (:func:`length_texts`)."""
    missing = [p for p in params.grid if p not in st_hyps]
    if missing:
        raise ValueError(f"the adaptive grid's penalties {missing} were not decoded")
    ids = sorted(texts)
    grid_hyps = {p: st_hyps[p] for p in params.grid}
    estimates = target_estimates(texts, params.ratio, params.source_unit)
    choice = choose_penalties(grid_hyps, estimates, params.dev_best_penalty)
    chosen = select_hypotheses(grid_hyps, choice)
    score = translation_score([chosen[i] for i in ids], streams)
    estimate_error = sum(abs(estimates[i] - len(ref.split())) for i, ref in zip(ids, streams[0])) / len(ids)
    tag = f"{key}-bpadaptive"
    _write_text(out_dir / f"hyps-st-{tag}.txt", chosen)
    write_text_atomic(out_dir / f"bleu-st-{tag}.txt", score.summary() + "\n" + score.bleu_detail + "\n")
    _write_text(out_dir / f"penalties-st-{key}-adaptive.txt", {
        i: f"penalty={choice[i]:g} target_estimate={estimates[i]:.1f} "
           f"length={len(chosen[i].split())}"
        for i in ids
    })
    constant = next(r for r in st_rows if r["blank_penalty"] == params.dev_best_penalty)
    row = {"blank_penalty": ADAPTIVE, **_score_fields(score), "estimator": params.estimator, "ratio": params.ratio,
           "source_unit": params.source_unit, "length_estimate_error": estimate_error,
           "mean_penalty": sum(choice.values()) / len(choice), "histogram": penalty_histogram(choice, params.grid),
           "dev_set": params.dev_set, "dev_best_penalty": params.dev_best_penalty,
           "dev_best_constant": {k: constant[k] for k in ("blank_penalty", "bleu", "chrf", "length_ratio")}}
    if None not in crossings:
        row["reordering"] = reordering_scores([chosen[i] for i in ids], streams, crossings)
    return row


def _fmt(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:.3f}"


# ---------------------------------------------------------------------------------------------------------
# model loading


def load_weights(config: Config, weights: Weights, device: torch.device) -> HentSrt:
    """Build the model of ``config`` and load ``weights`` (hent-srt or icefall names) strictly.

    Raises ValueError naming the config fields the weights contradict (and the first differing tensor) when they
    do not fit the config."""
    state = weights.state
    if is_icefall_named(state):
        state, _ = to_hent_names(state)
    model = build_model(config.model, config.loss)
    check_fits(config.model, shapes_of(state), shapes_of(model.state_dict()),
               what=f"checkpoint {', '.join(weights.sources)}")
    model.load_state_dict(state)
    return model.to(device).eval()


def load_model(config: Config, checkpoint: Path, device: torch.device) -> HentSrt:
    """Build the model of ``config`` and load ``checkpoint`` (a state dict or a dict with "model"), read safely."""
    return load_weights(config, read_weights(checkpoint), device)


# ---------------------------------------------------------------------------------------------------------
# command line: option types and groups shared with ``hent-srt translate``

METHODS = {"greedy": "greedy", "greedy_search": "greedy", "modified_beam_search": "modified_beam_search"}
DEFAULT_CHECKPOINTS = (PRETRAINED_NAME, "averaged.pt")
FRAME_SHIFT = 0.01  # seconds per fbank frame


positive_int = int_at_least(1)
nonnegative_int = int_at_least(0)


def parse_penalties(text: str) -> tuple[float, ...]:
    """``"0,0.5,1"`` → (0.0, 0.5, 1.0): finite numbers, at least one (argparse type of ``--blank-penalty``)."""
    try:
        values = tuple(finite_float(v) for v in text.split(",") if v.strip())
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a comma list of finite numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("needs at least one value, e.g. 1 or 0,0.5,1")
    return values


def parse_blank_penalty(text: str) -> tuple[float, ...] | str:
    """``--blank-penalty``: a comma list of penalties (:func:`parse_penalties`) or ``adaptive``."""
    return ADAPTIVE if text.strip() == ADAPTIVE else parse_penalties(text)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--exp-dir``, ``--config``, the weights (``--checkpoint`` or ``--epoch/--avg``) and ``--set``."""
    parser.add_argument("--exp-dir", type=Path, required=True,
                        help="experiment directory (holds config.yaml; an import-icefall directory works too)")
    parser.add_argument("--config", type=Path, help="a YAML file or a preset name (default: EXP_DIR/config.yaml)")
    parser.add_argument("--checkpoint", type=Path,
                        help="model weights (default: EXP_DIR/pretrained.pt, else EXP_DIR/averaged.pt)")
    add_averaging_arguments(parser, "EXP_DIR")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override, e.g. --set data.src_bpe_model=data/bpe_src/bpe.model")


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """Search options; icefall's flag names are accepted as aliases."""
    parser.add_argument("--method", "--decoding-method", dest="method", choices=sorted(METHODS), default=None,
                        help="default: decode.method of the config (greedy_search = greedy)")
    parser.add_argument("--beam", "--beam-size", dest="beam", type=positive_int, default=None,
                        help="beam of modified beam search (default: decode.beam of the config)")
    parser.add_argument("--blank-penalty-asr", type=finite_float, default=None,
                        help="ASR blank penalty (default: decode.blank_penalty_asr)")
    parser.add_argument("--max-sym-per-frame", type=positive_int, default=None,
                        help="greedy search: symbols per encoder frame at most (default: decode.max_sym_per_frame)")
    parser.add_argument("--max-duration", type=positive_float, default=100.0, help="seconds of audio per batch")
    parser.add_argument("--num-threads", type=nonnegative_int, default=0,
                        help="torch's intra-op CPU threads while decoding (0: torch's default); recorded with the "
                             "real-time factor")
    parser.add_argument("--streaming", action="store_true",
                        help="decode chunk by chunk as concurrent streams (causal models; greedy), report latency")
    parser.add_argument("--chunk-size", type=positive_int, default=None,
                        help="streaming chunk in frames at 50 Hz for both encoders (default: each encoder's "
                             "eval_chunk_size; published 64)")
    parser.add_argument("--left-context", type=nonnegative_int, default=None,
                        help="streaming left context in frames at 50 Hz for both encoders (default: each "
                             "encoder's eval_left_context_frames; published 128)")


@dataclass(frozen=True)
class SearchOptions:
    """Validated search settings: command line over the config's ``decode`` section."""

    method: str
    beam: int
    max_sym_per_frame: int
    blank_penalty_asr: float
    blank_penalties_st: tuple[float, ...]
    streaming: bool
    chunk_size: int | None
    left_context: int | None


def _check_config_value(key: str, value: float, minimum: float | None) -> None:
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum:g}" if minimum is not None else ""
        raise ValueError(f"config {key} must be a finite number{bound}, got {value}; fix it or pass the option")


def search_options(args: argparse.Namespace, config: Config, blank_penalties_st: tuple[float, ...] | None) -> SearchOptions:
    """The search settings of ``args`` with the config's ``decode`` values for what is not given (checked too)."""
    dec = config.decode
    method = METHODS.get(args.method or dec.method)
    if method is None:
        raise ValueError(f"config decode.method must be one of {sorted(METHODS)}, got {dec.method!r}")
    beam = args.beam if args.beam is not None else dec.beam
    max_sym = args.max_sym_per_frame if args.max_sym_per_frame is not None else dec.max_sym_per_frame
    asr_penalty = args.blank_penalty_asr if args.blank_penalty_asr is not None else dec.blank_penalty_asr
    penalties = blank_penalties_st if blank_penalties_st is not None else (dec.blank_penalty_st,)
    _check_config_value("decode.beam", beam, 1)
    _check_config_value("decode.max_sym_per_frame", max_sym, 1)
    _check_config_value("decode.blank_penalty_asr", asr_penalty, None)
    for penalty in penalties:
        _check_config_value("decode.blank_penalty_st", penalty, None)
    if args.streaming:
        if args.method not in (None, "greedy", "greedy_search"):
            raise ValueError("--streaming decodes with greedy search; drop --method")
        method = "greedy"
    elif args.chunk_size is not None or args.left_context is not None:
        raise ValueError("--chunk-size/--left-context need --streaming")
    return SearchOptions(method, int(beam), int(max_sym), float(asr_penalty), tuple(penalties), args.streaming,
                         args.chunk_size, args.left_context)


def _chunking(config: Config, options: SearchOptions) -> tuple[tuple[str, int, int], ...]:
    """(encoder, chunk, left context) of each causal encoder as the decode uses it."""
    model = config.model
    encoders = [("asr", model.asr_encoder)]
    if model.encoder_type == "hier" and "st" in model.tasks:
        encoders.append(("st", model.st_encoder))
    out = []
    for name, enc in encoders:
        if enc.causal:
            chunk = options.chunk_size if options.chunk_size is not None else enc.eval_chunk_size
            left = options.left_context if options.left_context is not None else enc.eval_left_context_frames
            out.append((name, chunk, left))
    return tuple(out)


def decode_setting(config: Config, options: SearchOptions, weights: str) -> DecodeSetting:
    """The :class:`DecodeSetting` of a decode with ``options`` of the weights called ``weights``."""
    return DecodeSetting(
        method=options.method, weights=weights,
        beam=options.beam if options.method == "modified_beam_search" else None,
        max_sym_per_frame=None if options.method == "modified_beam_search" else options.max_sym_per_frame,
        streaming=options.streaming, chunking=_chunking(config, options),
        blank_penalty_asr=options.blank_penalty_asr,
    )


@dataclass
class Experiment:
    """A loaded experiment: config, model (eval mode), tokenizers and the name of the weights (file tag)."""

    config: Config
    model: HentSrt
    src_tok: Tokenizer
    tgt_tok: Tokenizer | None
    weights: str


def load_experiment(args: argparse.Namespace, device: torch.device) -> Experiment:
    """Config, weights (``--checkpoint``, ``--epoch/--avg`` or the directory's default file) and tokenizers of the
    options of :func:`add_model_arguments`. Raises ValueError naming the option or file at fault."""
    config = load_experiment_config(args.config, args.exp_dir, args.overrides)
    if args.checkpoint is not None and (args.epoch is not None or args.avg is not None):
        raise ValueError("give either --checkpoint or --epoch/--avg, not both")
    if args.epoch is not None or args.avg is not None:
        weights = read_weights(args.exp_dir, args.epoch, args.avg, args.use_averaged_model)
        name = weights_tag(None, args.epoch, args.avg, args.use_averaged_model)
    else:
        checkpoint = args.checkpoint
        if checkpoint is None:
            checkpoint = next((args.exp_dir / n for n in DEFAULT_CHECKPOINTS if (args.exp_dir / n).is_file()), None)
            if checkpoint is None:
                raise ValueError(f"no {' or '.join(DEFAULT_CHECKPOINTS)} in {args.exp_dir}; pass --checkpoint FILE or "
                                 "--epoch E --avg A")
        weights = read_weights(checkpoint, use_averaged_model=args.use_averaged_model)
        name = weights_tag(Path(checkpoint).name.removesuffix(".pt"), None, None, args.use_averaged_model)
    model = load_weights(config, weights, device)
    log.info("model weights: %s", weights.how)
    tokenizers = {}
    for side, task in (("src", "asr"), ("tgt", "st")):
        path = getattr(config.data, f"{side}_bpe_model")
        if task == "st" and "st" not in config.model.tasks:
            continue
        if not path:
            raise ValueError(f"config data.{side}_bpe_model is empty: pass --set data.{side}_bpe_model=PATH/bpe.model "
                             "(for an import-icefall directory: import again with --bpe-model / --bpe-st-model)")
        tokenizers[side] = Tokenizer(path)
        size = getattr(config.model, f"{task}_vocab_size")
        if tokenizers[side].vocab_size != size:
            raise ValueError(f"data.{side}_bpe_model={path} has {tokenizers[side].vocab_size} pieces but the model's "
                             f"{task.upper()} head has model.{task}_vocab_size={size}; pass the tokenizer the model "
                             f"was trained with (--set data.{side}_bpe_model=PATH)")
    return Experiment(config, model, tokenizers["src"], tokenizers.get("tgt"), name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--cuts", type=Path, action="append", required=True,
                        help="test-set manifest (repeatable); the set name is the file name without suffixes")
    parser.add_argument("--out-dir", type=Path, help="default: EXP_DIR/decode")
    add_search_arguments(parser)
    parser.add_argument("--blank-penalty", "--st-blank-penalty", dest="blank_penalty", type=parse_blank_penalty,
                        default=None, help="ST blank penalty, a comma list to sweep, e.g. 0,0.5,1,1.5,2, or "
                                           "'adaptive' (chosen per utterance; see --tune-adaptive-on)")
    parser.add_argument("--tune-adaptive-on", type=Path, default=None, metavar="CUTS_DEV",
                        help="with --blank-penalty adaptive: tune its ratio on this dev manifest first and write "
                             "it to --adaptive-params")
    parser.add_argument("--adaptive-grid", type=parse_penalties, default=None,
                        help="penalties the adaptive choice picks from, when tuning (default "
                             f"{','.join(f'{p:g}' for p in DEFAULT_GRID)}); decoding reads them from the tuned file")
    parser.add_argument("--adaptive-estimator", choices=ESTIMATORS, default=None,
                        help="when tuning: estimate each translation's length from the ASR hypothesis (asr_length, "
                             "the default) or from the ST head's CTC output (st_ctc); decoding reads it from the "
                             "tuned file")
    parser.add_argument("--adaptive-params", type=Path, default=None, metavar="FILE",
                        help="tuned adaptive-penalty parameters (default: EXP_DIR/adaptive-blank-penalty-TAG.json)")
    parser.add_argument("--tune-blank-penalty-asr-on", type=Path, default=None, metavar="CUTS_DEV",
                        help="choose the ASR blank penalty with the lowest error rate on this dev manifest (over "
                             "--blank-penalty-asr-grid), write it to EXP_DIR/asr-blank-penalty-TAG.json and "
                             "decode the test sets with it; replaces --blank-penalty-asr")
    parser.add_argument("--blank-penalty-asr-grid", type=parse_penalties, default=None,
                        help="ASR blank penalties tried with --tune-blank-penalty-asr-on (default "
                             f"{','.join(f'{p:g}' for p in DEFAULT_ASR_GRID)})")
    parser.add_argument("--src-normalizer", default="none", choices=sorted(NORMALIZERS))
    parser.add_argument("--tgt-normalizer", default="none", choices=sorted(NORMALIZERS))
    parser.add_argument("--unit", default="word", choices=["word", "char"], help="char: CER (Mandarin)")
    parser.add_argument("--on-the-fly-features", action="store_true")
    parser.add_argument("--results-file", type=Path, help="also write a section into this RESULTS.md")
    parser.add_argument("--results-name", default=None,
                        help="section heading in RESULTS.md, followed by the setting (default: EXP_DIR)")
    parser.add_argument("--results-comment", default="", help="comment column of the RESULTS.md table")


def set_name_of(path: Path) -> str:
    """``data/fbank/cuts_test.jsonl.gz`` → ``test``."""
    name = path.name.split(".")[0]
    return name[len("cuts_"):] if name.startswith("cuts_") and len(name) > len("cuts_") else name


def _read_test_set(path: Path) -> CutSet:
    """The cuts of the test manifest ``path`` (ManifestError naming the file and line where it is damaged)."""
    cuts = read_cuts(path).to_eager()
    if len(cuts) == 0:
        raise ValueError(f"--cuts {path}: the test manifest holds no cut; check the path, or run the stage that "
                         "writes it again")
    return cuts


def check_test_set(path: Path, cuts: CutSet, exp: Experiment, on_the_fly: bool) -> None:
    """Refuse a test set that would be scored wrongly: repeated cut ids (hypotheses and references of different
    utterances would be matched by id), blank transcripts or translations, cuts without features (unless
    ``on_the_fly``) or whose features are missing, and cuts too short for the model's front end, which would
    silently be left out of the score. Raises ValueError naming ``--cuts``, the file and the cut ids."""
    check_feature_manifest(path, "--cuts", require_translation="st" in exp.config.model.tasks,
                           require_features=not on_the_fly)
    too_short = []
    for cut in cuts:
        reason = exp.model.check_lengths(cut.num_frames if cut.has_features else
                                         compute_num_frames(cut.duration, FRAME_SHIFT, cut.sampling_rate), {})
        if reason is not None:
            too_short.append(f"  {cut.id} ({cut.duration:.3f} s): {reason}")
    if too_short:
        listed = "\n".join(too_short[:50]) + (f"\n  ... and {len(too_short) - 50} more" if len(too_short) > 50 else "")
        raise ValueError(f"--cuts {path}: {len(too_short)} cut(s) are too short to decode:\n{listed}\n"
                         "Fix: drop them from the test set (e.g. lhotse's CutSet.filter on the duration) or pad "
                         "their audio")


def decode_experiment(exp: Experiment, cuts: CutSet, options: SearchOptions, max_duration: float,
                      on_the_fly: bool, st_ctc: bool = False) -> Hypotheses:
    """Decode ``cuts`` offline or (``options.streaming``) as streams; ``st_ctc``: with the ST CTC hypotheses
    (offline only)."""
    if options.streaming:
        if st_ctc:
            raise ValueError(f"--adaptive-estimator {ST_CTC} decodes offline; use {ASR_LENGTH} with --streaming")
        return decode_cuts_streaming(
            exp.model, cuts, exp.src_tok, exp.tgt_tok, options.chunk_size, options.left_context, options.chunk_size,
            options.left_context, options.blank_penalty_asr, options.blank_penalties_st, options.max_sym_per_frame,
            max_duration, on_the_fly,
        )
    return decode_cuts(
        exp.model, cuts, exp.src_tok, exp.tgt_tok,
        method=options.method,
        beam=options.beam,
        blank_penalty_asr=options.blank_penalty_asr,
        blank_penalties_st=options.blank_penalties_st,
        max_sym_per_frame=options.max_sym_per_frame,
        max_duration=max_duration,
        on_the_fly=on_the_fly,
        st_ctc=st_ctc,
    )


def _adaptive_command(args: argparse.Namespace) -> str:
    """The ``hent-srt decode`` command that tunes the adaptive penalty for this decode's setting."""
    model = ["--exp-dir", str(args.exp_dir)] + (["--checkpoint", str(args.checkpoint)] if args.checkpoint else [])
    return "`hent-srt decode " + " ".join(shlex.quote(a) for a in model) + (
        " [the same search options] --blank-penalty adaptive --tune-adaptive-on CUTS_DEV --cuts CUTS_TEST`")


def tune_adaptive(exp: Experiment, dev_path: Path, options: SearchOptions, setting: DecodeSetting,
                  args: argparse.Namespace, out_dir: Path) -> AdaptivePenalty:
    """Decode the dev manifest ``dev_path`` at ``options.blank_penalties_st`` (the grid), write its files to
    ``out_dir`` as a sweep over the grid would, and tune the adaptive penalty on it
    (:func:`hent_srt.decode.adaptive.tune`)."""
    estimator = args.adaptive_estimator or ASR_LENGTH
    cuts = _read_test_set(dev_path)
    hyps = decode_experiment(exp, cuts, options, args.max_duration, args.on_the_fly_features, estimator == ST_CTC)
    if not hyps.asr or not any(hyps.st.values()):
        raise ValueError("--blank-penalty adaptive needs a model with both an ASR and an ST head")
    score_and_write(hyps, cuts, set_name_of(dev_path), out_dir, args.src_normalizer, args.tgt_normalizer, args.unit,
                    setting)
    src_norm, tgt_norm = get_normalizer(args.src_normalizer), get_normalizer(args.tgt_normalizer)
    ids = sorted(hyps.asr)
    refs = reference_streams({c.id: c for c in cuts}, ids, tgt_norm)
    st = {p: {i: tgt_norm(h[i]) for i in ids} for p, h in hyps.st.items()}
    params = tune(st, length_texts(hyps, ids, estimator, src_norm, tgt_norm), refs, ids,
                  estimator_unit(estimator, args.unit), estimator=estimator)
    return replace(params, dev_set=str(dev_path), setting_tag=setting.tag(), src_normalizer=args.src_normalizer,
                   tgt_normalizer=args.tgt_normalizer)


def tune_asr_penalty(exp: Experiment, dev_path: Path, options: SearchOptions,
                     args: argparse.Namespace) -> AsrPenaltyChoice:
    """Decode the dev manifest ``dev_path`` with the ASR head at every penalty of ``--blank-penalty-asr-grid`` and
    choose the one with the lowest error rate (:mod:`hent_srt.decode.asr_penalty`). Offline, the whole grid is
    searched on one encoder output per batch; streaming decodes the dev set once per penalty (the ST head at one
    penalty only)."""
    grid = args.blank_penalty_asr_grid or DEFAULT_ASR_GRID
    cuts = _read_test_set(dev_path)
    check_test_set(dev_path, cuts, exp, args.on_the_fly_features)
    asr_only = replace(exp, tgt_tok=None)
    if options.streaming:
        one_st = options.blank_penalties_st[:1]
        sweep = {p: decode_experiment(asr_only, cuts, replace(options, blank_penalty_asr=p, blank_penalties_st=one_st),
                                      args.max_duration, args.on_the_fly_features).asr for p in grid}
    else:
        sweep = decode_cuts(exp.model, cuts, exp.src_tok, None, method=options.method, beam=options.beam,
                            blank_penalty_asr=grid[0], max_sym_per_frame=options.max_sym_per_frame,
                            max_duration=args.max_duration, on_the_fly=args.on_the_fly_features,
                            asr_sweep=tuple(grid)).asr_sweep
    if not any(sweep.values()):
        raise ValueError("--tune-blank-penalty-asr-on needs a model with an ASR head")
    src_norm = get_normalizer(args.src_normalizer)
    by_id = {c.id: c for c in cuts}
    results = {penalty: score_asr(by_id, hyps, src_norm, args.unit)[2] for penalty, hyps in sweep.items()}
    return AsrPenaltyChoice.from_scores(str(dev_path), next(iter(results.values())).metric,
                                        {p: r.rate for p, r in results.items()},
                                        {p: r.deletions for p, r in results.items()})


def adaptive_params(exp: Experiment, args: argparse.Namespace, options: SearchOptions,
                    setting: DecodeSetting) -> AdaptivePenalty:
    """Tune (``--tune-adaptive-on``) and write, or read, the adaptive penalty's parameters of this decode."""
    path = args.adaptive_params or args.exp_dir / params_file_name(setting.tag())
    if args.tune_adaptive_on is not None:
        out_dir = args.out_dir or args.exp_dir / "decode"
        params = tune_adaptive(exp, args.tune_adaptive_on, options, setting, args, out_dir)
        write_params(path, params)
        log.info("adaptive blank penalty tuned on %s: ratio %.3f (reference ratio %.3f), dev BLEU %.2f; dev-best "
                 "constant penalty %g (dev BLEU %.2f); written to %s", args.tune_adaptive_on, params.ratio,
                 params.reference_ratio, params.dev_bleu_adaptive, params.dev_best_penalty,
                 params.dev_bleu_by_penalty[f"{params.dev_best_penalty:g}"], path)
        return params
    for name, value in (("--adaptive-grid", args.adaptive_grid), ("--adaptive-estimator", args.adaptive_estimator)):
        if value is not None:
            raise ValueError(f"{name} is used when tuning (--tune-adaptive-on CUTS_DEV); decoding takes the one the "
                             "parameters were tuned with")
    params = read_params(path, _adaptive_command(args))
    for name, tuned, given in (("--unit", params.source_unit, estimator_unit(params.estimator, args.unit)),
                               ("--src-normalizer", params.src_normalizer, args.src_normalizer),
                               ("--tgt-normalizer", params.tgt_normalizer, args.tgt_normalizer)):
        if tuned != given:
            raise ValueError(f"{path} was tuned with {name} {tuned}, this decode has {name} {given}: pass "
                             f"{name} {tuned}, or tune again with {_adaptive_command(args)}")
    return params


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = args.out_dir or args.exp_dir / "decode"
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out-dir {out_dir} is a file; give a directory")
        if args.results_file is not None:
            require_output_file(args.results_file, "--results-file")
        is_adaptive = args.blank_penalty == ADAPTIVE
        if not is_adaptive and (args.tune_adaptive_on or args.adaptive_grid or args.adaptive_params
                                or args.adaptive_estimator):
            raise ValueError("--tune-adaptive-on, --adaptive-grid, --adaptive-estimator and --adaptive-params need "
                             "--blank-penalty adaptive")
        test_sets = [(path, set_name_of(path), _read_test_set(path)) for path in args.cuts]
        exp = load_experiment(args, device)
        for path, _, cuts in test_sets:
            check_test_set(path, cuts, exp, args.on_the_fly_features)
        if args.tune_blank_penalty_asr_on is not None and args.blank_penalty_asr is not None:
            raise ValueError("give either --blank-penalty-asr P or --tune-blank-penalty-asr-on CUTS_DEV, not both")
        if args.blank_penalty_asr_grid is not None and args.tune_blank_penalty_asr_on is None:
            raise ValueError("--blank-penalty-asr-grid needs --tune-blank-penalty-asr-on CUTS_DEV")
        options = search_options(args, exp.config, (args.adaptive_grid or DEFAULT_GRID) if is_adaptive
                                 else args.blank_penalty)
        setting = decode_setting(exp.config, options, exp.weights)
    except ValueError as err:
        print(f"hent-srt decode: {err}", file=sys.stderr)
        return 2
    with DirectoryLock(out_dir):
        asr_choice = None
        if args.tune_blank_penalty_asr_on is not None:
            try:
                asr_choice = tune_asr_penalty(exp, args.tune_blank_penalty_asr_on, options, args)
            except ValueError as err:
                print(f"hent-srt decode: {err}", file=sys.stderr)
                return 2
            untuned_tag = replace(setting, blank_penalty_asr=0.0).tag()
            choice_path = args.exp_dir / choice_file_name(untuned_tag)
            write_choice(choice_path, asr_choice, untuned_tag)
            log.info("ASR blank penalty tuned on %s: %g (dev %s %s); written to %s", args.tune_blank_penalty_asr_on,
                     asr_choice.penalty, asr_choice.metric,
                     ", ".join(f"{p:g}: {r:.2f}" for p, r in asr_choice.error_rates.items()), choice_path)
            options = replace(options, blank_penalty_asr=asr_choice.penalty)
            setting = replace(decode_setting(exp.config, options, exp.weights),
                              blank_penalty_asr_tuned_on=set_name_of(args.tune_blank_penalty_asr_on))
        adaptive = None
        if is_adaptive:
            try:
                adaptive = adaptive_params(exp, args, options, setting)
            except ValueError as err:
                print(f"hent-srt decode: {err}", file=sys.stderr)
                return 2
            options = replace(options, blank_penalties_st=adaptive.grid)
        return _decode_test_sets(args, exp, options, setting, [(name, cuts) for _, name, cuts in test_sets], out_dir,
                                 adaptive, asr_choice)


def _decode_test_sets(args: argparse.Namespace, exp: Experiment, options: SearchOptions, setting: DecodeSetting,
                      test_sets: list[tuple[str, CutSet]], out_dir: Path, adaptive: AdaptivePenalty | None,
                      asr_choice: AsrPenaltyChoice | None = None) -> int:
    """Decode, score and write every test set into ``out_dir`` (whose lock the caller holds), with the adaptive ST
    blank penalty's parameters when it is used, and the dev-tuned ASR blank penalty's choice when it was tuned."""
    summaries = []
    for set_name, cuts in test_sets:
        try:
            hyps = decode_experiment(exp, cuts, options, args.max_duration, args.on_the_fly_features,
                                     adaptive is not None and adaptive.estimator == ST_CTC)
        except ValueError as err:
            print(f"hent-srt decode: {set_name}: {err}", file=sys.stderr)
            return 2
        try:
            summary = score_and_write(hyps, cuts, set_name, out_dir, args.src_normalizer, args.tgt_normalizer,
                                      args.unit, setting, adaptive, asr_choice)
        except ValueError as err:
            print(f"hent-srt decode: {set_name}: {err}", file=sys.stderr)
            return 2
        if "asr" in summary:
            print(f"{set_name} ASR {summary['asr']['summary']}")
        for row in summary.get("st", []):
            latency = row.get("latency")
            lag = "" if latency is None else (f" first-token delay {_fmt(latency['first_token_delay'])} s"
                                              f" AL {_fmt(latency['average_lagging'])} s")
            print(f"{set_name} ST bp={row['blank_penalty']:g} BLEU {row['bleu']:.2f} ({row['bleu_signature']}) "
                  f"chrF++ {row['chrf']:.2f} length ratio {row['length_ratio']:.3f}{lag}")
        if "st_adaptive" in summary:
            row = summary["st_adaptive"]
            best = row["dev_best_constant"]
            print(f"{set_name} ST bp=adaptive ({row['estimator']}, ratio {row['ratio']:.3f}, mean penalty "
                  f"{row['mean_penalty']:.2f}, chosen {row['histogram']}) BLEU {row['bleu']:.2f} "
                  f"({row['bleu_signature']}) chrF++ {row['chrf']:.2f} length ratio {row['length_ratio']:.3f}; "
                  f"dev-best constant bp={best['blank_penalty']:g}: BLEU {best['bleu']:.2f}")
        print(f"{set_name} real-time factor {summary['rtf']:.3f} over {summary['audio_seconds']:.1f} s of audio "
              f"({summary['rtf_device']}, {summary['rtf_torch_num_threads']} torch threads)")
        print(f"{set_name} files: {out_dir}/*-{set_name}-{setting.tag()}*")
        summaries.append(summary)
    if args.results_file:
        label = options.method if options.method == "greedy" else f"{options.method} (beam {options.beam})"
        if options.streaming:
            label = "greedy (streaming)"
        setting_label = setting.label() + (", adaptive ST blank penalty" if adaptive is not None else "")
        heading = section_heading(args.results_name or str(args.exp_dir), setting_label)
        section = format_section(heading, label, summaries, args.results_comment,
                                 ["hent-srt " + " ".join(shlex.quote(a) for a in sys.argv[1:])])
        write_section(args.results_file, section)
    return 0
