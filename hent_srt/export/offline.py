"""TorchScript and ONNX graphs of the whole-utterance model, their int8 variants and the token files.

The exported model is split into the pieces a transducer search needs, per task t of the model (the step
interface of :mod:`hent_srt.search.step`):

- encoder: features (N, T, F) float32 and feature_lens (N,) int64 → ``<t>_encoder_out`` (N, T_t, J) and
  ``<t>_encoder_out_lens`` (N,) int64, where the encoder output (front end → ENC_asr (→ ENC_st)) is already
  passed through task t's joiner ``encoder_proj``: enc_t = W_enc,t · f_t + b_enc,t;
- predictor step: contexts (N, context_size) int64 (negative = "no token") → (N, J), the predictor output
  passed through the joiner's ``decoder_proj``;
- joiner: (N, J), (N, J) → logits (N, V_t) = W_out · tanh(enc + dec) + b_out.

Files (names from :mod:`hent_srt.decode.runtimes`, which loads them):

- ``model.pt``: one TorchScript module with methods ``encoder(features, feature_lens)`` (the tuple (enc_asr,
  lens_asr, enc_st, lens_st) over the model's tasks in order), ``<t>_predictor(contexts)`` and
  ``<t>_joiner(encoder_out, decoder_out)``; the metadata is the extra file ``metadata.json``;
- ``encoder.onnx``, ``predictor-<t>.onnx``, ``joiner-<t>.onnx`` (opset >= 17, dynamic batch and time axes), the
  metadata in every graph's ``metadata_props``, and their int8 dynamic quantisation ``*.int8.onnx``
  (onnxruntime's ``quantize_dynamic`` on MatMul and Gemm weights);
- ``tokens-<t>.txt`` (``<piece> <id>`` per line) and ``bpe-<t>.model`` from the config's sentencepiece models.

See :mod:`hent_srt.export.trace` for how the graphs are traced.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from hent_srt.config import Config
from hent_srt.decode.runtimes import ENCODER_NAME, METADATA_NAME, graph_file, onnx_metadata
from hent_srt.export.trace import MethodGraph, trace_num_frames, traceable
from hent_srt.fileio import atomic_path, write_bytes_atomic, write_text_atomic
from hent_srt.model.hent import HentSrt
from hent_srt.search.step import start_contexts

log = logging.getLogger(__name__)

MIN_OPSET = 17


class OfflineModel(nn.Module):
    """The offline model as one module whose methods are the graphs (module docstring): ``encoder``,
    ``asr_predictor`` / ``st_predictor`` and ``asr_joiner`` / ``st_joiner`` (the heads' ``predict`` and
    ``join``); only the methods of the model's tasks are traced."""

    def __init__(self, model: HentSrt) -> None:
        super().__init__()
        self.model = model
        self.tasks = tuple(model.cfg.tasks)

    def encoder(self, features: Tensor, feature_lens: Tensor) -> tuple[Tensor, ...]:
        encoded = self.model.encode(features, feature_lens)
        outputs: list[Tensor] = []
        for task in self.tasks:
            outputs += [self.model.heads[task].project_encoder(encoded[task].out), encoded[task].lens]
        return tuple(outputs)

    def asr_predictor(self, contexts: Tensor) -> Tensor:
        return self.model.heads["asr"].predict(contexts)

    def asr_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.model.heads["asr"].join(encoder_out, decoder_out)

    def st_predictor(self, contexts: Tensor) -> Tensor:
        return self.model.heads["st"].predict(contexts)

    def st_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.model.heads["st"].join(encoder_out, decoder_out)


def step_example_inputs(model: HentSrt, generator: torch.Generator) -> dict[str, tuple[Tensor, ...]]:
    """Example inputs of the per-task ``<t>_predictor`` / ``<t>_joiner`` graphs (two hypotheses: one at the start
    context, one deep into a sequence)."""
    context_size = model.cfg.context_size
    contexts = torch.cat([start_contexts(1, context_size, model.heads[model.cfg.tasks[0]].blank_id),
                          torch.ones(1, context_size, dtype=torch.int64)])
    projected = torch.randn(2, model.cfg.joiner_dim, generator=generator)
    inputs: dict[str, tuple[Tensor, ...]] = {}
    for task in model.cfg.tasks:
        inputs[f"{task}_predictor"] = (contexts,)
        inputs[f"{task}_joiner"] = (projected, projected.flip(0))
    return inputs


def example_inputs(model: HentSrt) -> dict[str, tuple[Tensor, ...]]:
    """Example inputs for tracing every method of :class:`OfflineModel` (the encoder: two utterances of
    different lengths, see :func:`hent_srt.export.trace.trace_num_frames`)."""
    frames = trace_num_frames(model)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, frames, model.cfg.feature_dim, generator=generator)
    feature_lens = torch.tensor([frames, frames - 4], dtype=torch.int64)
    return {"encoder": (features, feature_lens)} | step_example_inputs(model, generator)


def save_traced(module: nn.Module, model: HentSrt, inputs: dict[str, tuple], metadata: dict[str, str],
                path: str | Path) -> Path:
    """Trace the methods of ``module`` named in ``inputs`` (with their example inputs) under
    :func:`hent_srt.export.trace.traceable` and save to ``path`` atomically, ``metadata`` as the extra file
    ``metadata.json``."""
    path = Path(path)
    with traceable(model):
        traced = torch.jit.trace_module(module, inputs, check_trace=False)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated but still loads in libtorch
        torch.jit.save(traced, str(tmp), _extra_files={METADATA_NAME: json.dumps(metadata, sort_keys=True)})
    return path


def export_torchscript(model: HentSrt, metadata: dict[str, str], path: str | Path) -> Path:
    """Trace :class:`OfflineModel` of ``model`` and save it to ``path`` (atomically)."""
    return save_traced(OfflineModel(model), model, example_inputs(model), metadata, path)


# ---------------------------------------------------------------------------------------------------------
# ONNX


def save_onnx(module: nn.Module, model: HentSrt, args: tuple[Tensor, ...], path: Path, input_names: list[str],
              output_names: list[str], dynamic_axes: dict[str, dict[int, str]], metadata: dict[str, str],
              opset: int) -> Path:
    """Export ``module`` (a graph of ``model``, traced by the TorchScript-based ONNX exporter under
    :func:`hent_srt.export.trace.traceable`) with ``metadata`` in its ``metadata_props``, atomically."""
    import onnx

    with atomic_path(path) as tmp:
        with traceable(model):
            torch.onnx.export(module, args, str(tmp), dynamo=False, opset_version=opset, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
        graph = onnx.load(str(tmp))
        set_onnx_metadata(graph, metadata)
        onnx.save(graph, str(tmp))
    return path


def set_onnx_metadata(graph, metadata: dict[str, str]) -> None:
    """Replace the ``metadata_props`` of an ONNX ModelProto by ``metadata``."""
    del graph.metadata_props[:]
    for key, value in sorted(metadata.items()):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value


def check_opset(opset: int) -> None:
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset must be an integer >= {MIN_OPSET}, got {opset!r}")


def export_onnx(model: HentSrt, metadata: dict[str, str], out_dir: str | Path, opset: int = MIN_OPSET) -> list[Path]:
    """Write ``encoder.onnx``, ``predictor-<t>.onnx`` and ``joiner-<t>.onnx`` (see the module docstring)."""
    out_dir = Path(out_dir)
    check_opset(opset)
    offline = OfflineModel(model)
    inputs = example_inputs(model)
    tasks = list(model.cfg.tasks)
    enc_outputs = [name for t in tasks for name in (f"{t}_encoder_out", f"{t}_encoder_out_lens")]
    axes = {"features": {0: "N", 1: "T"}, "feature_lens": {0: "N"}}
    for t in tasks:
        axes[f"{t}_encoder_out"] = {0: "N", 1: f"T_{t}"}
        axes[f"{t}_encoder_out_lens"] = {0: "N"}
    written = [save_onnx(MethodGraph(offline, "encoder"), model, inputs["encoder"], graph_file(out_dir, ENCODER_NAME),
                         ["features", "feature_lens"], enc_outputs, axes, metadata, opset)]
    for t in tasks:
        written.append(save_onnx(MethodGraph(offline, f"{t}_predictor"), model, inputs[f"{t}_predictor"],
                                 graph_file(out_dir, f"predictor-{t}"), ["contexts"], ["decoder_out"],
                                 {"contexts": {0: "N"}, "decoder_out": {0: "N"}}, metadata, opset))
        written.append(save_onnx(MethodGraph(offline, f"{t}_joiner"), model, inputs[f"{t}_joiner"],
                                 graph_file(out_dir, f"joiner-{t}"), ["encoder_out", "decoder_out"], ["logits"],
                                 {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logits": {0: "N"}}, metadata,
                                 opset))
    return written


def quantize_int8(paths: list[Path]) -> list[Path]:
    """``X.onnx`` → ``X.int8.onnx`` with int8 dynamic quantisation of MatMul/Gemm weights; metadata kept.

    Only products with a constant weight are quantised (attention score products stay float); activations
    are quantised per call (DynamicQuantizeLinear → MatMulInteger)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    written = []
    for path in paths:
        target = path.with_name(path.name[: -len(".onnx")] + ".int8.onnx")
        with atomic_path(target) as tmp:
            logging.disable(logging.WARNING)  # the quantiser logs every tensor it leaves in float at INFO level
            try:
                quantize_dynamic(str(path), str(tmp), op_types_to_quantize=["MatMul", "Gemm"],
                                 weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
            graph = onnx.load(str(tmp))
            set_onnx_metadata(graph, onnx_metadata(path))
            onnx.save(graph, str(tmp))
        written.append(target)
    return written


# ---------------------------------------------------------------------------------------------------------
# tokens


def write_tokens(config: Config, metadata: dict[str, str], out_dir: Path) -> list[Path]:
    """Write ``tokens-<t>.txt`` and copy ``bpe-<t>.model`` for each task whose config names a tokenizer."""
    from hent_srt.data.tokenizer import Tokenizer

    bpe = {"asr": ("data.src_bpe_model", config.data.src_bpe_model),
           "st": ("data.tgt_bpe_model", config.data.tgt_bpe_model)}
    written = []
    for task in config.model.tasks:
        key, model_path = bpe[task]
        if not model_path:
            log.warning("%s is empty: no tokens-%s.txt written (set it with --set %s=PATH)", key, task, key)
            continue
        tokenizer = Tokenizer(model_path)
        vocab = int(metadata[f"{task}_vocab_size"])
        if tokenizer.vocab_size != vocab:
            raise ValueError(f"{key}={model_path} has {tokenizer.vocab_size} pieces but the {task} head has "
                             f"{vocab} outputs; pass the tokenizer the model was trained with")
        tokens = out_dir / metadata[f"tokens_{task}"]
        write_text_atomic(tokens, "".join(f"{tokenizer.id_to_piece(i)} {i}\n" for i in range(vocab)))
        copy = out_dir / metadata[f"bpe_model_{task}"]
        write_bytes_atomic(copy, Path(tokenizer.model_path).read_bytes())
        written += [tokens, copy]
    return written
