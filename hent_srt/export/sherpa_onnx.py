"""sherpa-onnx graphs of a HENT-SRT model (``hent-srt export --sherpa-onnx``): one transducer per task head.

sherpa-onnx (2.x) runs a transducer from three ONNX files matched by position, with icefall's names, and reads
the projections where icefall's ``export-onnx.py`` puts them: the encoder and decoder graphs end with the
joiner's encoder / decoder projections and the joiner graph takes the projected outputs. Per task t, in
``<out>/sherpa-onnx/<t>/`` (names from :mod:`hent_srt.decode.sherpa`, which runs them):

- ``encoder.onnx``: x (N, T, 80) float32, x_lens (N,) int64 → encoder_out (N, T_t, J) = W_enc,t · f_t + b_enc,t,
  encoder_out_lens (N,) int64, f_t the output of the encoder head t reads (front end → ENC_asr for ASR, and
  → ENC_asr's tapped stack → ENC_st for a hierarchical ST head: the ST graph contains ENC_asr);
- ``decoder.onnx``: y (N, context_size) int64 (-1 = no token) → decoder_out (N, J), the predictor step;
- ``joiner.onnx``: encoder_out (N, J), decoder_out (N, J) → logit (N, V_t) = W_out · tanh(enc + dec) + b_out;
- ``tokens.txt`` (``<piece> <id>``, ``<blk>`` = 0), the int8 variants ``*.int8.onnx`` with ``--int8``.

Streaming (causal models, ``--streaming``), in ``<out>/sherpa-onnx-streaming/<t>/``: the same decoder, joiner
and tokens, and an encoder in the layout of icefall's ``export-onnx-streaming.py`` that sherpa-onnx's
``OnlineRecognizer`` runs as a streaming zipformer2. One call processes one chunk: x (N, T, 80) with
T = 2C + 13 feature frames (C the chunk at 50 Hz) and the states, by layer i over all layers in order (6 each:
cached_key_i (L_s, N, H·d_q), cached_nonlin_attn_i (1, N, L_s, 3D/4), cached_val1_i, cached_val2_i (L_s, N, H·d_v),
cached_conv1_i, cached_conv2_i (N, D, K // 2), L_s the left context of the layer's stack at its rate), then
embed_states (N, 128, 3, 19) and processed_lens (N,) int64 (50 Hz frames seen); outputs encoder_out and the
``new_``-prefixed states in the same order. sherpa-onnx builds the zero initial states from the encoder's
metadata lists (encoder_dims, num_encoder_layers, cnn_module_kernels, left_context_len, query_head_dims,
value_head_dims, num_heads: one entry per stack) and T / decode_chunk_len (= 2C). The mapping onto hent-srt's
streaming graphs (:class:`hent_srt.decode.streaming.ModelGraphs`) is done in the graph, not in the model:

- Zipformer2's per-layer states are those six in that order already; its processed_lens is sherpa's;
- the front end's cache (N, C3, 3, 19) is the first C3 channels of embed_states (sherpa-onnx allocates 128,
  icefall's width; C3 <= 128), the other channels are written back as zeros;
- the hierarchical ST head is described as one zipformer whose stacks are ENC_asr's followed by ENC_st's:
  ENC_st runs on the tapped stack's output of the same chunk (its chunk is ENC_asr's, so both encoders have
  seen the same 50 Hz frames and one processed_lens serves both), each stack with its own encoder's left
  context in left_context_len.

Every graph carries the same metadata: the keys sherpa-onnx reads (model_type = zipformer2, vocab_size,
context_size, and for the streaming encoder the lists above), icefall's version / model_author / comment, and
hent-srt's export metadata of :func:`hent_srt.export.metadata.export_metadata` for this task (its model_type
renamed encoder_type, ``task``, ``blank_penalty``: the config's default for the task). ``README.txt`` in the
export directory gives the sherpa-onnx command lines, with the blank penalty to pass for ST.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from hent_srt.config import Config
from hent_srt.decode.runtimes import graph_file
from hent_srt.decode.sherpa import (
    DECODER_GRAPH,
    ENCODER_GRAPH,
    FEATURE_DIM,
    JOINER_GRAPH,
    README_FILE,
    SHERPA_DIR,
    SHERPA_STREAMING_DIR,
    TOKENS_FILE,
    sherpa_dir,
)
from hent_srt.decode.streaming import FRONT_END_CONTEXT, ModelGraphs
from hent_srt.export.offline import MethodGraph, OfflineModel, check_opset, example_inputs, quantize_int8, save_onnx
from hent_srt.export.streaming import example_inputs as streaming_example_inputs
from hent_srt.fileio import write_bytes_atomic, write_text_atomic
from hent_srt.model.hent import HentSrt

MODEL_TYPE = "zipformer2"
EMBED_CHANNELS = 128  # channels of the front-end cache that sherpa-onnx allocates
LAYER_STATES = ("cached_key", "cached_nonlin_attn", "cached_val1", "cached_val2", "cached_conv1", "cached_conv2")
STATE_BATCH_AXIS = (1, 1, 1, 1, 0, 0)


def check_exportable(config: Config, metadata: dict[str, str]) -> None:
    """ValueError unless sherpa-onnx can run this model: 80-dim features and a token file for every task."""
    if config.model.feature_dim != FEATURE_DIM:
        raise ValueError(f"--sherpa-onnx: sherpa-onnx computes {FEATURE_DIM}-dim fbank features; this model reads "
                         f"model.feature_dim={config.model.feature_dim}")
    keys = {"asr": "data.src_bpe_model", "st": "data.tgt_bpe_model"}
    for task in config.model.tasks:
        if not metadata[f"tokens_{task}"]:
            raise ValueError(f"--sherpa-onnx needs tokens.txt for every head: {keys[task]} is empty "
                             f"(set it with --set {keys[task]}=PATH)")


def sherpa_metadata(metadata: dict[str, str], task: str) -> dict[str, str]:
    """The metadata of every sherpa-onnx graph of ``task`` (module docstring) from hent-srt's ``metadata``."""
    out = {k: v for k, v in metadata.items() if k not in ("model_type", "tasks")}
    return out | {
        "model_type": MODEL_TYPE,
        "encoder_type": metadata["model_type"],
        "task": task,
        "vocab_size": metadata[f"{task}_vocab_size"],
        "context_size": metadata["context_size"],
        "blank_penalty": metadata[f"blank_penalty_{task}"],
        "version": "1",
        "model_author": "hent-srt",
        "comment": f"HENT-SRT {task} head ({metadata['model_type']}) for sherpa-onnx",
    }


class SherpaEncoder(nn.Module):
    """Whole-utterance encoder of one task: (x (N, T, F), x_lens (N,)) → (encoder_out (N, T_t, J), lens (N,))."""

    def __init__(self, model: HentSrt, task: str) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        encoded = self.model.encode(x, x_lens)[self.task]
        return self.model.heads[self.task].project_encoder(encoded.out), encoded.lens


class SherpaStreamingEncoder(nn.Module):
    """One chunk of one task in sherpa-onnx's streaming zipformer2 layout (module docstring):
    ``forward(x, *layer_states, embed_states, processed_lens) -> (encoder_out, *new_layer_states, new_embed_states,
    new_processed_lens)``."""

    def __init__(self, graphs: ModelGraphs, task: str) -> None:
        super().__init__()
        self.model = graphs.model  # registers the parameters with this module for tracing
        self.graphs = graphs
        self.task = task
        self.encoders = streaming_encoders(graphs, task)
        self.num_layer_states = {e: len(graphs.encoder_init(e, 1)) - 1 for e in self.encoders}
        self.front_channels = graphs.model.encoder_embed.layer3_channels

    def forward(self, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        layer_states, embed_states, processed_lens = states[:-2], states[-2], states[-1]
        x_lens = torch.full_like(processed_lens, x.shape[1])
        emb, front_cache = self.graphs.front_step(x, x_lens, embed_states[:, : self.front_channels])
        emb_lens = torch.full_like(processed_lens, emb.shape[1])
        n_asr = self.num_layer_states["asr"]
        out, _, new_asr, tap = self.graphs.encoder_step("asr", emb, emb_lens, [*layer_states[:n_asr], processed_lens])
        new_states = new_asr[:-1]
        if "st" in self.encoders:
            out, _, new_st, _ = self.graphs.encoder_step("st", tap, emb_lens, [*layer_states[n_asr:], processed_lens])
            new_states += new_st[:-1]
        padding = front_cache.new_zeros(front_cache.shape[0], EMBED_CHANNELS - self.front_channels,
                                        *front_cache.shape[2:])
        new_embed = torch.cat([front_cache, padding], dim=1)
        return (self.graphs.encoder_proj(self.task, out), *new_states, new_embed, new_asr[-1])


def streaming_encoders(graphs: ModelGraphs, task: str) -> tuple[str, ...]:
    """The encoders a streaming head runs, in state order: ("asr",) or, for a hierarchical ST head, ("asr", "st")."""
    return ("asr",) if graphs.model.task_encoder[task] == "asr" else ("asr", "st")


def check_streaming_exportable(graphs: ModelGraphs) -> None:
    """ValueError unless the streaming heads fit sherpa-onnx's layout (module docstring)."""
    channels = graphs.model.encoder_embed.layer3_channels
    if channels > EMBED_CHANNELS:
        raise ValueError(f"--sherpa-onnx --streaming: the front end caches {channels} channels; sherpa-onnx holds "
                         f"{EMBED_CHANNELS} (model.subsampling_channels[2] <= {EMBED_CHANNELS})")
    if graphs.st is not None and graphs.st.chunk_size != graphs.asr.chunk_size:
        raise ValueError(f"--sherpa-onnx --streaming: ENC_st runs on ENC_asr's chunks in sherpa-onnx, but their chunks "
                         f"are {graphs.st.chunk_size} and {graphs.asr.chunk_size} frames; pass --chunk-size")


def streaming_metadata(graphs: ModelGraphs, task: str, metadata: dict[str, str]) -> dict[str, str]:
    """:func:`sherpa_metadata` with ``streaming`` = 1 and the keys sherpa-onnx builds the states from."""
    encoders = graphs.model.encoders()
    chunking = {"asr": graphs.asr, "st": graphs.st}
    lists: dict[str, list[int]] = {k: [] for k in ("encoder_dims", "num_encoder_layers", "cnn_module_kernels",
                                                   "left_context_len", "query_head_dims", "value_head_dims",
                                                   "num_heads")}
    for name in streaming_encoders(graphs, task):
        encoder = encoders[name][0]
        lists["encoder_dims"] += encoder.encoder_dim
        lists["num_encoder_layers"] += encoder.num_encoder_layers
        lists["cnn_module_kernels"] += encoder.cnn_module_kernel
        lists["left_context_len"] += [chunking[name].left_context_frames // d for d in encoder.downsampling_factor]
        lists["query_head_dims"] += encoder.query_head_dim
        lists["value_head_dims"] += encoder.value_head_dim
        lists["num_heads"] += encoder.num_heads
    chunk = graphs.asr.chunk_size
    out = sherpa_metadata(metadata, task) | {k: ",".join(map(str, v)) for k, v in lists.items()}
    return out | {"streaming": "1", "decode_chunk_len": str(2 * chunk), "T": str(2 * chunk + FRONT_END_CONTEXT),
                  "chunk_size": str(chunk), "left_context_frames": str(chunking[graphs.model.task_encoder[task]]
                                                                         .left_context_frames),
                  "comment": f"HENT-SRT {task} head ({metadata['model_type']}), streaming, for sherpa-onnx"}


def _decoder_and_joiner(model: HentSrt, task: str, out_dir: Path, metadata: dict[str, str], opset: int) -> list[Path]:
    offline = OfflineModel(model)
    inputs = example_inputs(model)
    decoder = save_onnx(MethodGraph(offline, f"{task}_predictor"), model, inputs[f"{task}_predictor"],
                        graph_file(out_dir, DECODER_GRAPH), ["y"], ["decoder_out"],
                        {"y": {0: "N"}, "decoder_out": {0: "N"}}, metadata, opset)
    joiner = save_onnx(MethodGraph(offline, f"{task}_joiner"), model, inputs[f"{task}_joiner"],
                       graph_file(out_dir, JOINER_GRAPH), ["encoder_out", "decoder_out"], ["logit"],
                       {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logit": {0: "N"}}, metadata, opset)
    return [decoder, joiner]


def _tokens(export_dir: Path, metadata: dict[str, str], task: str, out_dir: Path) -> Path:
    """Copy the export's ``tokens-<task>.txt`` (written by :func:`hent_srt.export.offline.write_tokens`)."""
    target = out_dir / TOKENS_FILE
    write_bytes_atomic(target, (export_dir / metadata[f"tokens_{task}"]).read_bytes())
    return target


def export_sherpa_onnx(model: HentSrt, metadata: dict[str, str], export_dir: str | Path, opset: int,
                       int8: bool = False) -> list[Path]:
    """Write ``<export_dir>/sherpa-onnx/<task>/`` for every task (module docstring); the token files of
    ``export_dir`` must exist. Returns the files written."""
    export_dir = Path(export_dir)
    check_opset(opset)
    written = []
    for task in model.cfg.tasks:
        out_dir = sherpa_dir(export_dir, task)
        out_dir.mkdir(parents=True, exist_ok=True)
        meta = sherpa_metadata(metadata, task)
        graphs = [save_onnx(SherpaEncoder(model, task), model, example_inputs(model)["encoder"],
                            graph_file(out_dir, ENCODER_GRAPH), ["x", "x_lens"], ["encoder_out", "encoder_out_lens"],
                            {"x": {0: "N", 1: "T"}, "x_lens": {0: "N"}, "encoder_out": {0: "N", 1: "T_out"},
                             "encoder_out_lens": {0: "N"}}, meta, opset)]
        graphs += _decoder_and_joiner(model, task, out_dir, meta, opset)
        written += graphs + (quantize_int8(graphs) if int8 else []) + [_tokens(export_dir, metadata, task, out_dir)]
    return written


def export_sherpa_onnx_streaming(graphs: ModelGraphs, metadata: dict[str, str], export_dir: str | Path, opset: int,
                                 int8: bool = False) -> list[Path]:
    """Write ``<export_dir>/sherpa-onnx-streaming/<task>/`` for every task of the causal model of ``graphs`` at its
    chunking (module docstring). Returns the files written."""
    export_dir = Path(export_dir)
    check_opset(opset)
    check_streaming_exportable(graphs)
    model = graphs.model
    inputs = streaming_example_inputs(graphs)
    x, _, front_cache = inputs["front_step"]
    embed_states = torch.cat([front_cache, torch.zeros(front_cache.shape[0], EMBED_CHANNELS - front_cache.shape[1],
                                                       *front_cache.shape[2:])], dim=1)
    written = []
    for task in model.cfg.tasks:
        out_dir = sherpa_dir(export_dir, task, streaming=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        meta = streaming_metadata(graphs, task, metadata)
        layer_states = [s for name in streaming_encoders(graphs, task) for s in inputs[f"{name}_step"][2][:-1]]
        processed_lens = inputs["asr_step"][2][-1]
        names = [f"{state}_{i}" for i in range(len(layer_states) // len(LAYER_STATES)) for state in LAYER_STATES]
        axes = {"x": {0: "N"}, "encoder_out": {0: "N"}, "embed_states": {0: "N"}, "new_embed_states": {0: "N"},
                "processed_lens": {0: "N"}, "new_processed_lens": {0: "N"}}
        for i, name in enumerate(names):
            axes[name] = axes[f"new_{name}"] = {STATE_BATCH_AXIS[i % len(LAYER_STATES)]: "N"}
        state_names = [*names, "embed_states", "processed_lens"]
        encoder = save_onnx(SherpaStreamingEncoder(graphs, task), model,
                            (x, *layer_states, embed_states, processed_lens), graph_file(out_dir, ENCODER_GRAPH),
                            ["x", *state_names], ["encoder_out", *(f"new_{n}" for n in state_names)], axes, meta,
                            opset)
        files = [encoder, *_decoder_and_joiner(model, task, out_dir, meta, opset)]
        written += files + (quantize_int8(files) if int8 else []) + [_tokens(export_dir, metadata, task, out_dir)]
    return written


def readme_text(metadata: dict[str, str], streaming_chunk: int | None, int8: bool) -> str:
    """``README.txt`` of an export directory: how to run its sherpa-onnx models (module docstring)."""
    tasks = metadata["tasks"].split(",")
    lines = [
        "sherpa-onnx models of this HENT-SRT export (written by `hent-srt export --sherpa-onnx`)",
        "",
        "One transducer per head: " + ", ".join(f"{SHERPA_DIR}/{t}/" for t in tasks)
        + (" (whole utterance) and " + ", ".join(f"{SHERPA_STREAMING_DIR}/{t}/" for t in tasks)
           + f" (streaming, chunk {streaming_chunk} frames at 50 Hz)" if streaming_chunk else " (whole utterance)")
        + ". Each holds encoder.onnx, decoder.onnx, joiner.onnx"
        + (" (and *.int8.onnx, int8-quantised)" if int8 else "") + " and tokens.txt.",
        "Paths below are relative to the directory of this file.",
        "Input: 16 kHz mono audio; sherpa-onnx computes the 80-dim fbank itself. Greedy search emits at most one",
        "symbol per encoder frame (hent-srt's own decoder may emit up to max_sym_per_frame="
        f"{metadata['max_sym_per_frame']}). Blank penalties (the config's defaults; sherpa-onnx applies positive ones):",
    ]
    lines += [f"  {t}: --blank-penalty={float(metadata[f'blank_penalty_{t}']):g}" for t in tasks]
    for streaming, directory in ((False, SHERPA_DIR), (True, SHERPA_STREAMING_DIR)):
        if streaming and not streaming_chunk:
            continue
        binary = "sherpa-onnx" if streaming else "sherpa-onnx-offline"
        lines += ["", f"## {'streaming' if streaming else 'whole utterance'}: command line ({binary}, built from "
                      "sherpa-onnx's C++ sources)", ""]
        for t in tasks:
            d = f"{directory}/{t}"
            lines.append(f"{binary} --encoder={d}/encoder.onnx --decoder={d}/decoder.onnx --joiner={d}/joiner.onnx "
                         f"--tokens={d}/tokens.txt --decoding-method=greedy_search --num-threads=1 "
                         f"--blank-penalty={float(metadata[f'blank_penalty_{t}']):g} audio.wav")
        lines += ["", "## Python (pip install sherpa-onnx soundfile)", "", *(["import numpy as np"] if streaming else []),
                  "import sherpa_onnx", "import soundfile", "",
                  "samples, rate = soundfile.read('audio.wav', dtype='float32')  # 16 kHz mono"]
        recognizer = "OnlineRecognizer" if streaming else "OfflineRecognizer"
        for t in tasks:
            d = f"{directory}/{t}"
            lines += [f"{t} = sherpa_onnx.{recognizer}.from_transducer(",
                      f"    encoder='{d}/encoder.onnx', decoder='{d}/decoder.onnx', joiner='{d}/joiner.onnx',",
                      f"    tokens='{d}/tokens.txt', num_threads=1, decoding_method='greedy_search',",
                      f"    blank_penalty={float(metadata[f'blank_penalty_{t}']):g})"]
        for t in tasks:
            lines += [f"stream = {t}.create_stream()"]
            if streaming:
                tail = (2 * streaming_chunk + FRONT_END_CONTEXT) / 100
                lines += [f"stream.accept_waveform(rate, np.concatenate([samples, np.zeros(int({tail:g} * rate), "
                          "dtype=np.float32)]))  # the last chunk needs audio after the end",
                          "stream.input_finished()", f"while {t}.is_ready(stream):", f"    {t}.decode_stream(stream)",
                          f"print('{t}:', {t}.get_result(stream))"]
            else:
                lines += ["stream.accept_waveform(rate, samples)", f"{t}.decode_stream(stream)",
                          f"print('{t}:', stream.result.text)"]
    return "\n".join(lines) + "\n"


def write_readme(export_dir: str | Path, metadata: dict[str, str], streaming_chunk: int | None, int8: bool) -> Path:
    """Write :func:`readme_text` to ``<export_dir>/README.txt``."""
    path = Path(export_dir) / README_FILE
    write_text_atomic(path, readme_text(metadata, streaming_chunk, int8))
    return path
