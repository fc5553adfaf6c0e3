"""``hent-srt decode``: decode test sets with both heads, score, and sweep the ST blank penalty.

For each test set (a cut manifest) the encoders run once per batch; the ASR head is searched with its blank
penalty and each ST blank penalty of the sweep reuses the same encoder output. Written to ``--out-dir``:

- ``hyps-asr-<set>.txt``, ``refs-asr-<set>.txt``, ``errs-asr-<set>.txt`` (WER/CER details);
- ``hyps-st-<set>-bp<P>.txt``, ``refs-st-<set>.txt`` (first reference), ``bleu-st-<set>-bp<P>.txt`` (BLEU and
  chrF++ with sacrebleu signatures, number of references, length ratio);
- ``summary-<set>.json`` (every number, the real-time factor) and, with several penalties,
  ``blank-penalty-<set>.png`` (BLEU and length ratio against the penalty).

With ``--streaming`` (causal models) the utterances are decoded chunk by chunk as concurrent
:class:`hent_srt.decode.streaming.Stream` objects (greedy search; the same hypotheses as the chunk-masked
simulated streaming forward), and each ST row also reports the latency of :mod:`hent_srt.decode.latency`
(mean first-token delay and average lagging, seconds), with per-utterance values in ``latency-st-<set>-bp<P>.txt``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lhotse import CutSet

from hent_srt.config import Config, load_config
from hent_srt.data.corpora.synth import num_crossings
from hent_srt.data.loader import make_dataloader
from hent_srt.data.schema import target_refs
from hent_srt.data.text import NORMALIZERS, get_normalizer
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.decode.latency import summarize_latency, utterance_latency
from hent_srt.decode.results import format_section, write_section
from hent_srt.decode.search import greedy_search, modified_beam_search
from hent_srt.decode.streaming import StreamingDecoder
from hent_srt.fileio import write_text_atomic
from hent_srt.metrics import error_rate, format_error_details, reordering_scores, translation_score
from hent_srt.model.hent import HentSrt, build_model

log = logging.getLogger(__name__)


@dataclass
class Hypotheses:
    """Decoded text of one test set: ``asr[cut_id]`` and ``st[penalty][cut_id]``; audio and compute seconds.

    Streaming decoding also fills ``st_delays[penalty][cut_id]`` (emission time of each ST token, seconds) and
    ``source_seconds[cut_id]``."""

    asr: dict[str, str] = field(default_factory=dict)
    st: dict[float, dict[str, str]] = field(default_factory=dict)
    audio_seconds: float = 0.0
    compute_seconds: float = 0.0
    st_delays: dict[float, dict[str, list[float]]] = field(default_factory=dict)
    source_seconds: dict[str, float] = field(default_factory=dict)


def search(
    encoder_out: torch.Tensor,
    encoder_out_lens: torch.Tensor,
    model: HentSrt,
    task: str,
    method: str,
    beam: int,
    blank_penalty: float,
    max_sym_per_frame: int,
) -> list[list[int]]:
    """Token ids for each utterance of one task head."""
    head = model.heads[task]
    if method == "greedy":
        return greedy_search(encoder_out, encoder_out_lens, head.predictor, head.joiner, blank_penalty,
                             max_sym_per_frame)
    return modified_beam_search(encoder_out, encoder_out_lens, head.predictor, head.joiner, beam, blank_penalty)


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
) -> Hypotheses:
    """Decode ``cuts`` with every task head of ``model`` (in eval mode); see the module docstring."""
    if method not in ("greedy", "modified_beam_search"):
        raise ValueError(f"method must be 'greedy' or 'modified_beam_search', got {method!r}")
    model.eval()
    device = next(model.parameters()).device
    loader = make_dataloader(cuts, src_tok, tgt_tok, max_duration=max_duration, shuffle=False,
                             on_the_fly=on_the_fly)
    out = Hypotheses(st={p: {} for p in blank_penalties_st})
    start = time.perf_counter()
    for batch in loader:
        batch = batch.to(device)
        out.audio_seconds += float(batch.feature_lens.sum()) / 100.0
        encoded = model.encode(batch.features, batch.feature_lens)
        if "asr" in encoded:
            enc = encoded["asr"]
            ids = search(enc.out, enc.lens, model, "asr", method, beam, blank_penalty_asr, max_sym_per_frame)
            out.asr.update(zip(batch.cut_ids, src_tok.decode(ids)))
        if "st" in encoded and tgt_tok is not None:
            enc = encoded["st"]
            for penalty in blank_penalties_st:
                ids = search(enc.out, enc.lens, model, "st", method, beam, penalty, max_sym_per_frame)
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
    out = Hypotheses(st={p: {} for p in st_keys}, st_delays={p: {} for p in st_keys})
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


def _write_plot(path: Path, penalties: list[float], bleu: list[float], ratio: list[float], title: str) -> None:
    import matplotlib

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
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def score_and_write(
    hyps: Hypotheses,
    cuts: CutSet,
    set_name: str,
    out_dir: Path,
    src_normalizer: str = "none",
    tgt_normalizer: str = "none",
    unit: str = "word",
) -> dict:
    """Write the files of the module docstring; return the summary dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    src_norm, tgt_norm = get_normalizer(src_normalizer), get_normalizer(tgt_normalizer)
    by_id = {c.id: c for c in cuts}
    summary: dict = {
        "set": set_name, "num_utterances": len(by_id), "audio_seconds": hyps.audio_seconds,
        "rtf": hyps.compute_seconds / max(hyps.audio_seconds, 1e-9), "src_normalizer": src_normalizer,
        "tgt_normalizer": tgt_normalizer,
    }
    if hyps.asr:
        ids = sorted(hyps.asr)
        refs = {i: src_norm(by_id[i].supervisions[0].text) for i in ids}
        hyp_text = {i: src_norm(hyps.asr[i]) for i in ids}
        result = error_rate([refs[i] for i in ids], [hyp_text[i] for i in ids], ids, unit=unit)
        _write_text(out_dir / f"hyps-asr-{set_name}.txt", hyp_text)
        _write_text(out_dir / f"refs-asr-{set_name}.txt", refs)
        write_text_atomic(out_dir / f"errs-asr-{set_name}.txt", format_error_details(result))
        summary["asr"] = {"metric": "WER" if unit == "word" else "CER", "error_rate": result.rate,
                          "summary": result.summary()}
    st_rows = []
    decoded = {p: h for p, h in sorted(hyps.st.items()) if h}
    if decoded:
        # every penalty decodes the same cuts: normalise and write the references once
        ids = sorted(next(iter(decoded.values())))
        ref_lists = [[tgt_norm(r) for r in target_refs(by_id[i])] for i in ids]
        num_refs = min(len(r) for r in ref_lists)
        streams = [[refs[k] for refs in ref_lists] for k in range(num_refs)]
        _write_text(out_dir / f"refs-st-{set_name}.txt", dict(zip(ids, streams[0])))
        crossings = [num_crossings(by_id[i]) for i in ids]
    for penalty, st_hyps in decoded.items():
        hyp_text = {i: tgt_norm(st_hyps[i]) for i in ids}
        score = translation_score([hyp_text[i] for i in ids], streams)
        tag = f"{set_name}-bp{penalty:g}"
        _write_text(out_dir / f"hyps-st-{tag}.txt", hyp_text)
        write_text_atomic(out_dir / f"bleu-st-{tag}.txt", score.summary() + "\n" + score.bleu_detail + "\n")
        row = {"blank_penalty": penalty, "bleu": score.bleu, "chrf": score.chrf,
               "length_ratio": score.length_ratio, "bleu_signature": score.bleu_signature,
               "chrf_signature": score.chrf_signature, "num_refs": score.num_refs}
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
        if len(st_rows) > 1:
            _write_plot(out_dir / f"blank-penalty-{set_name}.png", [r["blank_penalty"] for r in st_rows],
                        [r["bleu"] for r in st_rows], [r["length_ratio"] for r in st_rows],
                        f"ST blank penalty sweep ({set_name})")
    write_text_atomic(out_dir / f"summary-{set_name}.json", json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def _fmt(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:.3f}"


def load_model(config: Config, checkpoint: Path, device: torch.device) -> HentSrt:
    """Build the model of ``config`` and load ``checkpoint`` (a state dict or a dict with "model")."""
    if not checkpoint.is_file():
        raise ValueError(f"checkpoint {checkpoint} not found; pass --checkpoint (e.g. exp/epoch-3.pt or averaged.pt)")
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    model = build_model(config.model, config.loss)
    model.load_state_dict(state)
    return model.to(device).eval()


def parse_penalties(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--blank-penalty must be a comma list of numbers, got {text!r}") from None
    if not values:
        raise ValueError("--blank-penalty needs at least one value")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", type=Path, required=True, help="experiment directory (holds config.yaml)")
    parser.add_argument("--config", type=Path, help="config (default: EXP_DIR/config.yaml)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="model weights to decode")
    parser.add_argument("--cuts", type=Path, action="append", required=True,
                        help="test-set manifest (repeatable); the set name is the file name without suffixes")
    parser.add_argument("--out-dir", type=Path, help="default: EXP_DIR/decode")
    parser.add_argument("--method", choices=["greedy", "modified_beam_search"], default=None,
                        help="default: decode.method of the config")
    parser.add_argument("--beam", type=int, default=None, help="default: decode.beam of the config")
    parser.add_argument("--blank-penalty", default=None,
                        help="ST blank penalty, or a comma list to sweep, e.g. 0,0.5,1,1.5,2")
    parser.add_argument("--blank-penalty-asr", type=float, default=None)
    parser.add_argument("--max-sym-per-frame", type=int, default=None)
    parser.add_argument("--max-duration", type=float, default=100.0)
    parser.add_argument("--src-normalizer", default="none", choices=sorted(NORMALIZERS))
    parser.add_argument("--tgt-normalizer", default="none", choices=sorted(NORMALIZERS))
    parser.add_argument("--unit", default="word", choices=["word", "char"], help="char: CER (Mandarin)")
    parser.add_argument("--on-the-fly-features", action="store_true")
    parser.add_argument("--streaming", action="store_true",
                        help="decode chunk by chunk as concurrent streams (causal models; greedy), report latency")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="streaming chunk in frames at 50 Hz for both encoders (default: each encoder's "
                             "eval_chunk_size; published 64)")
    parser.add_argument("--left-context", type=int, default=None,
                        help="streaming left context in frames at 50 Hz for both encoders (default: each "
                             "encoder's eval_left_context_frames; published 128)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--results-file", type=Path, help="also write a table into this RESULTS.md")
    parser.add_argument("--results-name", default=None, help="section heading in RESULTS.md (default: EXP_DIR)")
    parser.add_argument("--results-comment", default="", help="comment column of the RESULTS.md table")


def set_name_of(path: Path) -> str:
    """``data/fbank/cuts_test.jsonl.gz`` → ``test``."""
    name = path.name.split(".")[0]
    return name[len("cuts_"):] if name.startswith("cuts_") and len(name) > len("cuts_") else name


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config or args.exp_dir / "config.yaml", args.overrides)
        dec = config.decode
        penalties = parse_penalties(args.blank_penalty) if args.blank_penalty else (dec.blank_penalty_st,)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = load_model(config, args.checkpoint, device)
        src_tok = Tokenizer(config.data.src_bpe_model)
        tgt_tok = Tokenizer(config.data.tgt_bpe_model) if "st" in config.model.tasks else None
    except ValueError as err:
        print(f"hent-srt decode: {err}", file=sys.stderr)
        return 2
    out_dir = args.out_dir or args.exp_dir / "decode"
    method = args.method or dec.method
    if args.streaming:
        if args.method not in (None, "greedy"):
            print("hent-srt decode: --streaming decodes with greedy search; drop --method", file=sys.stderr)
            return 2
        method = "greedy (streaming)"
    elif args.chunk_size is not None or args.left_context is not None:
        print("hent-srt decode: --chunk-size/--left-context need --streaming", file=sys.stderr)
        return 2
    summaries = []
    for path in args.cuts:
        if not path.is_file():
            print(f"hent-srt decode: test manifest {path} not found", file=sys.stderr)
            return 2
        set_name = set_name_of(path)
        cuts = CutSet.from_file(path).to_eager()
        blank_penalty_asr = dec.blank_penalty_asr if args.blank_penalty_asr is None else args.blank_penalty_asr
        max_sym = args.max_sym_per_frame or dec.max_sym_per_frame
        if args.streaming:
            try:
                hyps = decode_cuts_streaming(
                    model, cuts, src_tok, tgt_tok, args.chunk_size, args.left_context, args.chunk_size,
                    args.left_context, blank_penalty_asr, penalties, max_sym, args.max_duration,
                    args.on_the_fly_features,
                )
            except ValueError as err:
                print(f"hent-srt decode: {err}", file=sys.stderr)
                return 2
        else:
            hyps = decode_cuts(
                model, cuts, src_tok, tgt_tok,
                method=method,
                beam=args.beam or dec.beam,
                blank_penalty_asr=blank_penalty_asr,
                blank_penalties_st=penalties,
                max_sym_per_frame=max_sym,
                max_duration=args.max_duration,
                on_the_fly=args.on_the_fly_features,
            )
        summary = score_and_write(hyps, cuts, set_name, out_dir, args.src_normalizer, args.tgt_normalizer,
                                  args.unit)
        if "asr" in summary:
            print(f"{set_name} ASR {summary['asr']['summary']}")
        for row in summary.get("st", []):
            latency = row.get("latency")
            lag = "" if latency is None else (f" first-token delay {_fmt(latency['first_token_delay'])} s"
                                              f" AL {_fmt(latency['average_lagging'])} s")
            print(f"{set_name} ST bp={row['blank_penalty']:g} BLEU {row['bleu']:.2f} ({row['bleu_signature']}) "
                  f"chrF++ {row['chrf']:.2f} length ratio {row['length_ratio']:.3f}{lag}")
        print(f"{set_name} real-time factor {summary['rtf']:.3f} over {summary['audio_seconds']:.1f} s of audio")
        summaries.append(summary)
    if args.results_file:
        label = method if method.startswith("greedy") else f"{method} (beam {args.beam or dec.beam})"
        section = format_section(args.results_name or str(args.exp_dir), label, summaries, args.results_comment,
                                 ["hent-srt " + " ".join(shlex.quote(a) for a in sys.argv[1:])])
        write_section(args.results_file, section)
    return 0
