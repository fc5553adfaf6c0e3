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

The metadata (extra file ``metadata.json``) is :func:`hent_srt.export.metadata.streaming_metadata`.
:func:`hent_srt.decode.runtimes.load_streaming_torchscript` loads it for
:class:`hent_srt.decode.streaming.StreamingDecoder`. Every graph is traced (:mod:`hent_srt.export.trace`): the
step graphs see one fixed chunk length, so nothing shape-dependent is baked except what the chunking fixes
anyway; batch sizes and lengths follow the inputs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from hent_srt.decode.streaming import FRONT_END_CONTEXT, ModelGraphs
from hent_srt.export.metadata import streaming_metadata
from hent_srt.export.offline import save_traced, step_example_inputs


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
        return self.graphs.step("asr").predict(contexts)

    def asr_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.graphs.step("asr").join(encoder_out, decoder_out)

    def st_encoder_proj(self, frames: Tensor) -> Tensor:
        return self.graphs.encoder_proj("st", frames)

    def st_predictor(self, contexts: Tensor) -> Tensor:
        return self.graphs.step("st").predict(contexts)

    def st_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.graphs.step("st").join(encoder_out, decoder_out)


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
    encoders = model.encoders()
    for task in graphs.tasks:
        encoder = encoders[model.task_encoder[task]][0]
        inputs[f"{task}_encoder_proj"] = (torch.randn(2, 3, max(encoder.encoder_dim), generator=generator),)
    return inputs | step_example_inputs(model, generator)


def export_streaming_torchscript(graphs: ModelGraphs, metadata: dict[str, str], path: str | Path) -> Path:
    """Trace :class:`StreamingModule` of ``graphs`` and save it to ``path`` (atomically) with
    :func:`hent_srt.export.metadata.streaming_metadata` of ``metadata``."""
    return save_traced(StreamingModule(graphs), graphs.model, example_inputs(graphs),
                       streaming_metadata(metadata, graphs), path)
