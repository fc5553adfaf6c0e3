"""``hent-srt export --verify-cuts``: decode the first utterances of a test set with the exported graphs and with
the PyTorch model, and count identical greedy hypotheses per format and task.

Offline formats (``model.pt``, the ONNX graphs, their int8 variants) run behind the same
:class:`hent_srt.decode.runtimes.OfflineRuntime` as the PyTorch model, through the same greedy search, on the
same padded batch; the streaming TorchScript model runs in :class:`hent_srt.decode.streaming.StreamingDecoder`
against the same decoder on the PyTorch model at the same chunking. Blank penalties and ``max_sym_per_frame``
are the exported defaults (the config's ``decode`` section). Float32 exports must reproduce every hypothesis
(:func:`failures`); int8 graphs are reported only, since quantisation changes the scores.

The sherpa-onnx graphs (:func:`verify_sherpa`) are decoded by sherpa-onnx itself from the cuts' audio, so the
reference is the PyTorch model's greedy search at one symbol per frame (sherpa-onnx's search) on the features
sherpa-onnx computes from the same audio; the streaming graphs are compared with :class:`StreamingDecoder` on the
whole chunks sherpa-onnx decodes. :func:`symbol_cost` reports the WER and BLEU that one symbol per frame costs
against the configured ``max_sym_per_frame``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from lhotse.cut import Cut
from torch import Tensor

from hent_srt.data.schema import SchemaError, source_text, target_refs
from hent_srt.decode.runtimes import (
    STREAMING_TORCHSCRIPT_NAME,
    TORCHSCRIPT_NAME,
    ModelRuntime,
    OfflineRuntime,
    OnnxRuntime,
    TorchScriptRuntime,
    greedy_decode,
    load_streaming_torchscript,
    metadata_penalties,
)
from hent_srt.decode.sherpa import (
    SAMPLE_RATE,
    TOKENS_FILE,
    UNK,
    SherpaOfflineRunner,
    SherpaOnlineRunner,
    fbank,
    read_tokens,
    sherpa_dir,
)
from hent_srt.decode.streaming import Chunking, StreamingDecoder
from hent_srt.metrics import error_rate, translation_score
from hent_srt.model.hent import HentSrt


@dataclass(frozen=True)
class Agreement:
    """Identical hypotheses of one exported format and task on ``total`` utterances."""

    format: str
    task: str
    identical: int
    total: int
    exact_required: bool

    @property
    def ok(self) -> bool:
        return self.identical == self.total or not self.exact_required


def load_cuts(cuts_path: str | Path, num: int) -> list[Cut]:
    """The first ``num`` cuts of a manifest, each with features."""
    from hent_srt.data.manifest import check_feature_storage, read_cuts

    if num < 1:
        raise ValueError(f"the number of utterances must be >= 1, got {num}")
    path = Path(cuts_path)
    if not path.is_file():
        raise ValueError(f"cut manifest {path} not found; pass one with features (a recipe's stage-1 output)")
    cuts = list(check_feature_storage(read_cuts(path).subset(first=num), path))
    if not cuts:
        raise ValueError(f"cut manifest {path} holds no cuts; pass a test set with features (a recipe's stage-1 output)")
    return cuts


def cut_features(cuts: Sequence[Cut]) -> tuple[Tensor, Tensor]:
    """The stored features of ``cuts``: (B, T_max, F) float32 zero-padded and lengths (B,) int64."""
    return pad_features([torch.from_numpy(c.load_features()).float() for c in cuts])


def pad_features(feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Feature matrices [(T_i, F)] → (B, T_max, F) zero-padded and lengths (B,) int64."""
    lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.int64)
    return torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True), lens


def load_features(cuts_path: str | Path, num: int) -> tuple[Tensor, Tensor]:
    """The stored features of the first ``num`` cuts of a manifest (:func:`cut_features`)."""
    return cut_features(load_cuts(cuts_path, num))


def cut_waveforms(cuts: Sequence[Cut]) -> list[np.ndarray] | None:
    """16 kHz mono samples of every cut (resampled where needed), or None when a cut has no recording."""
    if not all(c.has_recording for c in cuts):
        return None
    return [c.resample(SAMPLE_RATE).load_audio()[0].astype(np.float32) for c in cuts]


def streaming_hyps(decoder: StreamingDecoder, features: Tensor, feature_lens: Tensor) -> dict[str, list[list[int]]]:
    """Tokens per task of every utterance decoded as concurrent streams."""
    streams = decoder.decode_features([features[b, :n] for b, n in enumerate(feature_lens.tolist())])
    tasks = dict.fromkeys(task for task, _ in decoder.searches)
    return {t: [list(s.tokens(t)) for s in streams] for t in tasks}


def compare(name: str, reference: dict[str, list[list[int]]], hyps: dict[str, list[list[int]]],
            exact_required: bool = True) -> list[Agreement]:
    """One :class:`Agreement` per task of ``reference``."""
    return [Agreement(name, t, sum(a == b for a, b in zip(reference[t], hyps[t])), len(reference[t]), exact_required)
            for t in reference]


def verify(model: HentSrt, metadata: dict[str, str], out_dir: Path, features: Tensor, feature_lens: Tensor,
           max_sym_per_frame: int, formats: dict[str, bool]) -> list[Agreement]:
    """Compare each exported format in ``out_dir`` that ``formats`` switches on (keys torchscript, onnx, int8,
    streaming) with the PyTorch model on the batch (features (B, T, F), feature_lens (B,))."""
    penalties = metadata_penalties(metadata)
    reference = greedy_decode(ModelRuntime(model), features, feature_lens, penalties, max_sym_per_frame)
    runtimes: list[tuple[str, OfflineRuntime, bool]] = []
    if formats.get("torchscript"):
        runtimes.append(("torchscript", TorchScriptRuntime(out_dir / TORCHSCRIPT_NAME), True))
    if formats.get("onnx"):
        runtimes.append(("onnx", OnnxRuntime(out_dir), True))
        if formats.get("int8"):
            runtimes.append(("onnx-int8", OnnxRuntime(out_dir, int8=True), False))
    rows: list[Agreement] = []
    for name, runtime, exact in runtimes:
        with torch.jit.optimized_execution(False):
            hyps = greedy_decode(runtime, features, feature_lens, penalties, max_sym_per_frame)
        rows += compare(name, reference, hyps, exact_required=exact)
    if formats.get("streaming"):
        graphs = load_streaming_torchscript(out_dir / STREAMING_TORCHSCRIPT_NAME)
        options = {"blank_penalty_asr": penalties.get("asr", 0.0), "blank_penalties_st": (penalties.get("st", 0.0),),
                   "max_sym_per_frame_asr": max_sym_per_frame, "max_sym_per_frame_st": max_sym_per_frame}
        chunking = (graphs.asr.chunk_size, graphs.asr.left_context_frames)
        st_chunking = (graphs.st.chunk_size, graphs.st.left_context_frames) if graphs.st is not None else (None, None)
        expected = streaming_hyps(StreamingDecoder(model, *chunking, *st_chunking, **options), features, feature_lens)
        with torch.jit.optimized_execution(False):
            got = streaming_hyps(StreamingDecoder(graphs, **options), features, feature_lens)
        rows += compare("torchscript-streaming", expected, got)
    return rows


def streaming_prefix_hyps(decoder: StreamingDecoder, features: Sequence[Tensor]) -> dict[str, list[list[int]]]:
    """Tokens per task of concurrent streams that receive ``features`` [(T_i, F)] but are never finished: only
    the whole chunks the input holds are decoded (what sherpa-onnx's online recognizer decodes)."""
    streams = [decoder.new_stream(str(i)) for i in range(len(features))]
    for stream, f in zip(streams, features):
        stream.accept_features(f)
    decoder.step(streams)
    tasks = dict.fromkeys(task for task, _ in decoder.searches)
    return {t: [list(s.tokens(t)) for s in streams] for t in tasks}


def verify_sherpa(model: HentSrt, metadata: dict[str, str], out_dir: Path, waveforms: Sequence[np.ndarray],
                  int8: bool, streaming: tuple[Chunking, Chunking | None] | None) -> tuple[list[Agreement], list[str]]:
    """sherpa-onnx decodes of ``waveforms`` (16 kHz) with the graphs of ``out_dir/sherpa-onnx*/`` against the PyTorch
    model's greedy search at one symbol per frame on the same features (:func:`hent_srt.decode.sherpa.fbank`);
    offline, and with ``streaming`` = (ENC_asr, ENC_st chunking) also chunk by chunk against
    :class:`StreamingDecoder` on the chunks sherpa-onnx decodes. Utterances whose reference holds ``<unk>`` are
    left out of the comparison (sherpa-onnx treats it as blank). Returns the rows and notes on what was left out."""
    penalties = metadata_penalties(metadata)
    notes = [f"sherpa-onnx/{t}: skipped, sherpa-onnx applies only positive blank penalties (default {p:g})"
             for t, p in penalties.items() if p < 0]
    tasks = [t for t, p in penalties.items() if p >= 0]
    x, x_lens = pad_features([fbank(w) for w in waveforms])
    reference = greedy_decode(ModelRuntime(model), x, x_lens, penalties, max_sym_per_frame=1)
    rows: list[Agreement] = []

    def add(name: str, task: str, expected: list[list[int]], hyps: list[list[int]], exact: bool = True) -> None:
        """Compare on the utterances whose expected tokens hold no <unk>, which sherpa-onnx never emits."""
        unk = next((i for symbol, i in read_tokens(sherpa_dir(out_dir, task) / TOKENS_FILE) if symbol == UNK), None)
        kept = [b for b, h in enumerate(expected) if unk not in h]
        if len(kept) < len(expected):
            notes.append(f"{name}/{task}: {len(expected) - len(kept)} utterance(s) whose PyTorch hypothesis holds "
                         f"{UNK} (sherpa-onnx treats it as blank) not compared")
        rows.extend(compare(name, {task: [expected[b] for b in kept]}, {task: [hyps[b] for b in kept]}, exact))

    for name, quantised in (("sherpa-onnx", False), ("sherpa-onnx-int8", True))[: 2 if int8 else 1]:
        for task in tasks:
            add(name, task, reference[task], SherpaOfflineRunner(sherpa_dir(out_dir, task), int8=quantised)
                .decode(waveforms), exact=not quantised)
    if streaming is not None:
        asr, st = streaming
        st_chunking = (st.chunk_size, st.left_context_frames) if st is not None else (None, None)
        decoder = StreamingDecoder(model, asr.chunk_size, asr.left_context_frames, *st_chunking,
                                   blank_penalty_asr=penalties.get("asr", 0.0),
                                   blank_penalties_st=(penalties.get("st", 0.0),), max_sym_per_frame_asr=1,
                                   max_sym_per_frame_st=1)
        for task in tasks:
            runner = SherpaOnlineRunner(sherpa_dir(out_dir, task, streaming=True))
            padded = [fbank(runner.padded(w)) for w in waveforms]
            expected = streaming_prefix_hyps(decoder, [f[: runner.decoded_frames(f.shape[0])] for f in padded])
            add("sherpa-onnx-streaming", task, expected[task], runner.decode(waveforms))
    return rows, notes


def symbol_cost(model: HentSrt, metadata: dict[str, str], cuts: Sequence[Cut], features: Tensor, feature_lens: Tensor,
                max_sym_per_frame: int, tokenizers: dict[str, object]) -> list[str]:
    """What one symbol per encoder frame (sherpa-onnx's search) costs against ``max_sym_per_frame``: WER (ASR) and
    BLEU (ST, lowercased 13a, against the cuts' references) of PyTorch greedy search with each, on the batch, with
    the exported default blank penalties. ``tokenizers``: {task: Tokenizer}; tasks without one are left out."""
    if max_sym_per_frame == 1:
        return ["1 symbol per frame is the configured max_sym_per_frame: no cost to report"]
    penalties = metadata_penalties(metadata)
    runtime = ModelRuntime(model)
    hyps = {n: greedy_decode(runtime, features, feature_lens, penalties, n) for n in (max_sym_per_frame, 1)}
    lines = []
    for task, tokenizer in tokenizers.items():
        texts = {n: tokenizer.decode(hyps[n][task]) for n in hyps}
        try:
            refs = [source_text(c) if task == "asr" else target_refs(c) for c in cuts]
        except SchemaError as err:
            lines.append(f"{task}: the cost of 1 symbol per frame is not reported, the cuts have no references ({err})"
                         .split("\n")[0])
            continue
        if task == "asr":
            scores = {n: error_rate(refs, texts[n]) for n in texts}
            lines.append(f"asr WER {scores[max_sym_per_frame].rate:.2f} with up to {max_sym_per_frame} symbols per frame, "
                         f"{scores[1].rate:.2f} with 1 ({len(cuts)} utterances, {scores[1].num_ref} reference words)")
        else:
            streams = [[r[k] for r in refs] for k in range(min(map(len, refs)))]
            scores = {n: translation_score(texts[n], streams) for n in texts}
            lines.append(f"st BLEU {scores[max_sym_per_frame].bleu:.2f} with up to {max_sym_per_frame} symbols per "
                         f"frame, {scores[1].bleu:.2f} with 1 (blank penalty {penalties[task]:g}; "
                         f"{scores[1].bleu_signature}, {len(streams)} reference(s), {len(cuts)} utterances)")
    return lines


def format_table(rows: list[Agreement]) -> str:
    """A plain-text table: format, task, identical hypotheses."""
    lines = [f"{'format':<22} {'task':<4} identical greedy hypotheses"]
    lines += [f"{r.format:<22} {r.task:<4} {r.identical}/{r.total}" + ("" if r.exact_required else " (report only)")
              for r in rows]
    return "\n".join(lines)


def failures(rows: list[Agreement]) -> list[Agreement]:
    """Rows of float32 formats that did not reproduce every hypothesis."""
    return [r for r in rows if not r.ok]
