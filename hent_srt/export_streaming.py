"""Streaming TorchScript export of a causal HENT-SRT model, chunk size and left context baked in.

``model-streaming.pt`` is one TorchScript module whose methods are the graphs of
:class:`hent_srt.decode.streaming.StreamingGraphs` at fixed chunking (chunk C and left context L of ENC_asr,
C_st and L_st of ENC_st, frames at 50 Hz), N streams batched:

- ``front_init(lens)`` → zero front-end cache for N = len(lens) streams;
  ``front_step(features (N, 2C + 13, F), lens, cache)`` → (embeddings (N, C, D), cache);
  ``front_full(features (N, T, F), lens)`` → (embeddings (N, (T - 7) // 2, D), lengths): the end of input;
- ``asr_init(lens)`` → the tuple of ENC_asr states (``Zipformer2.init_states``);
  ``asr_step(x (N, C, D), x_lens, states)`` → (out, out_lens, states[, tap (N, C, D_tap)]) with the tap only
  when the model has ENC_st; ``st_init`` / ``st_step`` likewise for ENC_st on chunks of C_st tap frames;
- ``<t>_encoder_proj(frames)``, ``<t>_predictor(contexts)`` (projected), ``<t>_joiner(enc, dec)`` per task t.

The metadata (extra file ``metadata.json``) is the offline export's (:func:`hent_srt.export.export_metadata`)
with ``streaming`` = 1, the baked chunking per encoder e (asr, and st for a hierarchical model) in
``chunk_size_<e>_encoder`` / ``left_context_frames_<e>_encoder``, and per task t in ``chunk_size_<t>`` /
``left_context_frames_<t>`` (what the encoder read by task t uses). :func:`load_streaming_torchscript` returns
:class:`ScriptedGraphs`, which :class:`hent_srt.decode.streaming.StreamingDecoder` runs like the PyTorch model.

Every graph is traced (see :mod:`hent_srt.export` for why): the step graphs see one fixed chunk length, so
nothing shape-dependent is baked except what the chunking fixes anyway; batch sizes and lengths follow the
inputs.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from hent_srt.decode.streaming import FRONT_END_CONTEXT, Chunking, ModelGraphs
from hent_srt.export import METADATA_NAME, load_torchscript, traceable_zipformer

STREAMING_TORCHSCRIPT_NAME = "model-streaming.pt"


class StreamingModule(nn.Module):
    """The graphs of :class:`ModelGraphs` as methods of one module (see the module docstring)."""

    def __init__(self, graphs: ModelGraphs) -> None:
        super().__init__()
        self.model = graphs.model  # registers the parameters with this module for tracing
        self.graphs = graphs

    def front_init(self, lens: Tensor) -> Tensor:
        return self.graphs.front_init(lens.shape[0])

    def front_step(self, x: Tensor, x_lens: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        return self.graphs.front_step(x, x_lens, cache)

    def front_full(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.graphs.front_full(x, x_lens)

    def _step(self, encoder: str, x: Tensor, x_lens: Tensor, states: tuple[Tensor, ...]) -> tuple:
        out, out_lens, new_states, tap = self.graphs.encoder_step(encoder, x, x_lens, list(states))
        return (out, out_lens, tuple(new_states)) + (() if tap is None else (tap,))

    def asr_init(self, lens: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.graphs.encoder_init("asr", lens.shape[0]))

    def asr_step(self, x: Tensor, x_lens: Tensor, states: tuple[Tensor, ...]) -> tuple:
        return self._step("asr", x, x_lens, states)

    def st_init(self, lens: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.graphs.encoder_init("st", lens.shape[0]))

    def st_step(self, x: Tensor, x_lens: Tensor, states: tuple[Tensor, ...]) -> tuple:
        return self._step("st", x, x_lens, states)

    def asr_encoder_proj(self, frames: Tensor) -> Tensor:
        return self.graphs.encoder_proj("asr", frames)

    def asr_predictor(self, contexts: Tensor) -> Tensor:
        return self.graphs.predict("asr", contexts)

    def asr_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.graphs.join("asr", encoder_out, decoder_out)

    def st_encoder_proj(self, frames: Tensor) -> Tensor:
        return self.graphs.encoder_proj("st", frames)

    def st_predictor(self, contexts: Tensor) -> Tensor:
        return self.graphs.predict("st", contexts)

    def st_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.graphs.join("st", encoder_out, decoder_out)


def _example_states(graphs: ModelGraphs, encoder: str, generator: torch.Generator) -> tuple[Tensor, ...]:
    """States of two streams with random caches, one at the start (processed 0) and one deep into its input."""
    states = graphs.encoder_init(encoder, 2)
    chunking = graphs.asr if encoder == "asr" else graphs.st
    cached = [torch.randn(s.shape, generator=generator) for s in states[:-1]]
    processed = torch.tensor([0, 4 * chunking.chunk_size + chunking.left_context_frames], dtype=torch.int64)
    return tuple(cached) + (processed,)


def example_inputs(graphs: ModelGraphs) -> dict[str, tuple]:
    """Example inputs of every method of :class:`StreamingModule` for tracing (two streams)."""
    model = graphs.model
    generator = torch.Generator().manual_seed(0)
    c = graphs.asr.chunk_size
    feat = model.cfg.feature_dim
    lens = torch.tensor([2 * c + FRONT_END_CONTEXT] * 2, dtype=torch.int64)
    full_frames = 2 * c + FRONT_END_CONTEXT + 6
    inputs: dict[str, tuple] = {
        "front_init": (lens,),
        "front_step": (torch.randn(2, int(lens[0]), feat, generator=generator), lens,
                       torch.randn(graphs.front_init(2).shape, generator=generator)),
        "front_full": (torch.randn(2, full_frames, feat, generator=generator),
                       torch.tensor([full_frames, full_frames - 5], dtype=torch.int64)),
        "asr_init": (lens,),
        "asr_step": (torch.randn(2, c, model.encoder.input_dim, generator=generator),
                     torch.tensor([c, c - 1], dtype=torch.int64), _example_states(graphs, "asr", generator)),
    }
    if graphs.st is not None:
        c_st = graphs.st.chunk_size
        inputs["st_init"] = (lens,)
        inputs["st_step"] = (torch.randn(2, c_st, model.st_encoder.input_dim, generator=generator),
                             torch.tensor([c_st, c_st - 1], dtype=torch.int64),
                             _example_states(graphs, "st", generator))
    contexts = torch.tensor([[-1] * (graphs.context_size - 1) + [graphs.blank_id], [1] * graphs.context_size])
    projected = torch.randn(2, model.cfg.joiner_dim, generator=generator)
    for task in graphs.tasks:
        encoder = model.st_encoder if task == "st" and model.st_encoder is not None else model.encoder
        inputs[f"{task}_encoder_proj"] = (torch.randn(2, 3, max(encoder.encoder_dim), generator=generator),)
        inputs[f"{task}_predictor"] = (contexts,)
        inputs[f"{task}_joiner"] = (projected, projected.flip(0))
    return inputs


def streaming_metadata(metadata: dict[str, str], graphs: ModelGraphs) -> dict[str, str]:
    """``metadata`` of the offline export with ``streaming`` = 1 and the chunking of ``graphs`` per encoder and
    per task."""
    out = dict(metadata, streaming="1")
    for encoder, chunking in (("asr", graphs.asr), ("st", graphs.st)):
        if chunking is not None:
            out[f"chunk_size_{encoder}_encoder"] = str(chunking.chunk_size)
            out[f"left_context_frames_{encoder}_encoder"] = str(chunking.left_context_frames)
    for task in graphs.tasks:
        chunking = graphs.st if task == "st" and graphs.st is not None else graphs.asr
        out[f"causal_{task}"] = "1"
        out[f"chunk_size_{task}"] = str(chunking.chunk_size)
        out[f"left_context_frames_{task}"] = str(chunking.left_context_frames)
    return out


def export_streaming_torchscript(graphs: ModelGraphs, metadata: dict[str, str], path: str | Path) -> Path:
    """Trace :class:`StreamingModule` of ``graphs`` and save it to ``path`` (atomically) with
    :func:`streaming_metadata` of ``metadata``."""
    path = Path(path)
    graphs.model.eval()
    inputs = example_inputs(graphs)
    with traceable_zipformer(), torch.no_grad():
        traced = torch.jit.trace_module(StreamingModule(graphs), inputs, check_trace=False)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(tmp),
                       _extra_files={METADATA_NAME: json.dumps(streaming_metadata(metadata, graphs), sort_keys=True)})
    tmp.replace(path)
    return path


class ScriptedGraphs:
    """:class:`hent_srt.decode.streaming.StreamingGraphs` of a loaded ``model-streaming.pt`` (CPU)."""

    def __init__(self, module: torch.jit.ScriptModule, metadata: dict[str, str]) -> None:
        if metadata.get("streaming") != "1":
            raise ValueError("this TorchScript model is not a streaming export; write one with "
                             "`hent-srt export --streaming`")
        self.module = module
        self.metadata = metadata
        self.tasks = tuple(metadata["tasks"].split(","))
        self.feature_dim = int(metadata["feature_dim"])
        self.context_size = int(metadata["context_size"])
        self.blank_id = int(metadata["blank_id"])
        self.device = torch.device("cpu")
        self.asr = self._chunking("asr")
        self.st = self._chunking("st") if "chunk_size_st_encoder" in metadata else None

    def _chunking(self, encoder: str) -> Chunking:
        return Chunking(int(self.metadata[f"chunk_size_{encoder}_encoder"]),
                        int(self.metadata[f"left_context_frames_{encoder}_encoder"]))

    def _lens(self, batch: int) -> Tensor:
        return torch.zeros(batch, dtype=torch.int64)

    def front_init(self, batch: int) -> Tensor:
        return self.module.front_init(self._lens(batch))

    def front_step(self, x: Tensor, x_lens: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        return self.module.front_step(x, x_lens, cache)

    def front_full(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.module.front_full(x, x_lens)

    def encoder_init(self, encoder: str, batch: int) -> list[Tensor]:
        return list(getattr(self.module, f"{encoder}_init")(self._lens(batch)))

    def encoder_step(
        self, encoder: str, x: Tensor, x_lens: Tensor, states: list[Tensor]
    ) -> tuple[Tensor, Tensor, list[Tensor], Tensor | None]:
        result = getattr(self.module, f"{encoder}_step")(x, x_lens, tuple(states))
        return result[0], result[1], list(result[2]), (result[3] if len(result) > 3 else None)

    def encoder_proj(self, task: str, frames: Tensor) -> Tensor:
        return getattr(self.module, f"{task}_encoder_proj")(frames)

    def predict(self, task: str, contexts: Tensor) -> Tensor:
        return getattr(self.module, f"{task}_predictor")(contexts)

    def join(self, task: str, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return getattr(self.module, f"{task}_joiner")(encoder_out, decoder_out)


def load_streaming_torchscript(path: str | Path) -> ScriptedGraphs:
    """The graphs of a ``model-streaming.pt`` written by :func:`export_streaming_torchscript`, ready for
    ``StreamingDecoder(graphs, blank_penalty_asr=..., ...)``."""
    return ScriptedGraphs(*load_torchscript(path))

