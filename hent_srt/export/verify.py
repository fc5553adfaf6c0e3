"""``hent-srt export --verify-cuts``: decode the first utterances of a test set with the exported graphs and with
the PyTorch model, and count identical greedy hypotheses per format and task.

Offline formats (``model.pt``, the ONNX graphs, their int8 variants) run behind the same
:class:`hent_srt.decode.runtimes.OfflineRuntime` as the PyTorch model, through the same greedy search, on the
same padded batch; the streaming TorchScript model runs in :class:`hent_srt.decode.streaming.StreamingDecoder`
against the same decoder on the PyTorch model at the same chunking. Blank penalties and ``max_sym_per_frame``
are the exported defaults (the config's ``decode`` section). Float32 exports must reproduce every hypothesis
(:func:`failures`); int8 graphs are reported only, since quantisation changes the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

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
from hent_srt.decode.streaming import StreamingDecoder
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


def load_features(cuts_path: str | Path, num: int) -> tuple[Tensor, Tensor]:
    """The stored features of the first ``num`` cuts of a manifest: (B, T_max, F) float32 zero-padded and lengths
    (B,) int64."""
    from hent_srt.data.manifest import read_cuts

    if num < 1:
        raise ValueError(f"the number of utterances must be >= 1, got {num}")
    path = Path(cuts_path)
    if not path.is_file():
        raise ValueError(f"cut manifest {path} not found; pass one with features (a recipe's stage-1 output)")
    cuts = list(read_cuts(path).subset(first=num))
    missing = [c.id for c in cuts if not c.has_features]
    if not cuts or missing:
        raise ValueError(f"cut manifest {path}: {'no cuts' if not cuts else f'cut {missing[0]} has no features'}; "
                         "compute them with `hent-srt features`")
    feats = [torch.from_numpy(c.load_features()).float() for c in cuts]
    lens = torch.tensor([f.shape[0] for f in feats], dtype=torch.int64)
    return torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), lens


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


def format_table(rows: list[Agreement]) -> str:
    """A plain-text table: format, task, identical hypotheses."""
    lines = [f"{'format':<22} {'task':<4} identical greedy hypotheses"]
    lines += [f"{r.format:<22} {r.task:<4} {r.identical}/{r.total}" + ("" if r.exact_required else " (report only)")
              for r in rows]
    return "\n".join(lines)


def failures(rows: list[Agreement]) -> list[Agreement]:
    """Rows of float32 formats that did not reproduce every hypothesis."""
    return [r for r in rows if not r.ok]
