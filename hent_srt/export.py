"""``hent-srt export``: TorchScript and ONNX graphs of a trained HENT-SRT model (stage 6 of a recipe).

The exported model is split into the pieces a transducer search needs, per task t of the model:

- encoder: features (N, T, F) float32 and feature_lens (N,) int64 → ``<t>_encoder_out`` (N, T_t, J) and
  ``<t>_encoder_out_lens`` (N,) int64, where the encoder output (front end → ENC_asr (→ ENC_st)) is already
  passed through task t's joiner ``encoder_proj``: enc_t = W_enc,t · f_t + b_enc,t;
- predictor step: contexts (N, context_size) int64 (negative = "no token") → (N, J), the predictor output
  passed through the joiner's ``decoder_proj``;
- joiner: (N, J), (N, J) → logits (N, V_t) = W_out · tanh(enc + dec) + b_out.

Files written to ``--out-dir``:

- ``model.pt`` (``--torchscript``): one TorchScript module with methods ``encoder(features, feature_lens)``
  (returns the tuple (enc_asr, lens_asr, enc_st, lens_st) over the model's tasks in order),
  ``<t>_predictor(contexts)`` and ``<t>_joiner(encoder_out, decoder_out)``; the metadata is the extra file
  ``metadata.json`` (:func:`load_torchscript`);
- ``encoder.onnx``, ``predictor-<t>.onnx``, ``joiner-<t>.onnx`` (``--onnx``, opset >= 17, dynamic batch and
  time axes), with the metadata in every graph's ``metadata_props``, and their int8 dynamic quantisation
  ``*.int8.onnx`` (``--int8``; onnxruntime's ``quantize_dynamic`` on MatMul and Gemm weights);
- ``model-streaming.pt`` (``--streaming``, causal models): the chunk-by-chunk graphs with chunk size and left
  context baked in (:mod:`hent_srt.export_streaming`);
- ``tokens-<t>.txt`` (``<piece> <id>`` per line) and ``bpe-<t>.model`` from the sentencepiece models of the
  config (source for asr, target for st).

``--verify-cuts CUTS`` then decodes the first ``--verify-num`` utterances of CUTS with every written format and
with the PyTorch model and exits 1 unless the float32 formats give the same greedy hypotheses
(:mod:`hent_srt.export_verify`).

Why tracing: the Zipformer2 code uses Python features TorchScript's compiler does not accept (autograd
Functions, scheduled floats, unions of tensors and floats), so every graph is made with ``torch.jit.trace``.
A trace bakes in Python control flow, which matters in two places, both handled here:

1. the relative-position shift (``_rel_to_abs``) uses ``as_strided`` with strides computed from the traced
   length; during tracing it is replaced by an equivalent ``gather`` (:func:`rel_to_abs_gather`), whose
   indices follow the input length;
2. ``SimpleDownsample`` appends padding frames only when the length is not a multiple of its factor; the
   trace length is chosen so that every downsampling step pads (:func:`trace_num_frames`), and the traced
   padding (of length 0 for other inputs) is then right for every length.

The tests check traced and ONNX graphs against the PyTorch model on lengths other than the traced one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import shutil
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

import hent_srt
import hent_srt.model.zipformer as zipformer
from hent_srt.config import Config, load_config
from hent_srt.decode.onnx_runtime import ENCODER_NAME, graph_file, greedy_search_arrays
from hent_srt.model.hent import BLANK_ID, HentSrt

log = logging.getLogger(__name__)

TORCHSCRIPT_NAME = "model.pt"
METADATA_NAME = "metadata.json"
MIN_OPSET = 17


# ---------------------------------------------------------------------------------------------------------
# traceable pieces


def rel_to_abs_gather(pos_scores: Tensor, num_keys: int) -> Tensor:
    """pos_scores (H, B, T, N) by relative offset → (H, B, T, num_keys), out[..., i, j] = pos_scores[..., i,
    T - 1 - i + j]: the result of ``zipformer._rel_to_abs`` computed with ``gather``, so that a trace
    follows the input length instead of baking in strides."""
    heads, batch, seq_len, _ = pos_scores.shape
    rows = torch.arange(seq_len - 1, -1, -1, device=pos_scores.device).unsqueeze(1)
    cols = torch.arange(num_keys, device=pos_scores.device).unsqueeze(0)
    index = (rows + cols).expand(heads, batch, seq_len, num_keys)
    return torch.gather(pos_scores, 3, index)


@contextlib.contextmanager
def traceable_zipformer() -> Iterator[None]:
    """Within the block, Zipformer2 attention shifts positions with :func:`rel_to_abs_gather` (same values);
    TorchScript/ONNX tracer warnings about baked shape checks are silenced (see the module docstring)."""
    original = zipformer._rel_to_abs
    zipformer._rel_to_abs = rel_to_abs_gather
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        zipformer._rel_to_abs = original


def trace_num_frames(model: HentSrt) -> int:
    """Feature frames T of the example input for tracing.

    With T' = (T - 7) // 2 front-end frames, T' ≡ 1 (mod d) for every downsampling factor d of both encoders
    (so every SimpleDownsample pads, see the module docstring), and T' exceeds the evaluation chunk size of a
    causal encoder (so chunked convolutions keep their chunk); T' >= 17.
    """
    encoders = [model.encoder] + ([model.st_encoder] if model.st_encoder is not None else [])
    factors = [d for enc in encoders for d in (*enc.downsampling_factor, enc.output_downsampling_factor)]
    period = math.lcm(*factors)
    configs = [model.cfg.asr_encoder] + ([model.cfg.st_encoder] if model.st_encoder is not None else [])
    minimum = max([17] + [cfg.eval_chunk_size + 1 for cfg in configs if cfg.causal])
    frames = period * math.ceil((minimum - 1) / period) + 1
    return 2 * frames + 7


def eval_chunking(model: HentSrt, task: str) -> tuple[int, int]:
    """(chunk_size, left_context_frames) at 50 Hz that the encoder of ``task`` uses in evaluation; -1 means the
    whole utterance / unlimited left context (always for a non-causal encoder)."""
    encoder = "st" if task == "st" and model.st_encoder is not None else "asr"
    training = model.training
    model.eval()
    chunking = model.chunking(encoder)
    model.train(training)
    chunk = chunking.get("chunk_size")
    left = chunking.get("left_context_frames")
    return (-1 if chunk is None else chunk), (-1 if left is None or chunk in (None, -1) else left)


class EncoderGraph(nn.Module):
    """features (N, T, F), feature_lens (N,) → (enc_t (N, T_t, J), lens_t (N,)) for each task t in order,
    with enc_t = task t's joiner ``encoder_proj`` applied to the encoder output."""

    def __init__(self, model: HentSrt) -> None:
        super().__init__()
        self.model = model
        self.tasks = tuple(model.cfg.tasks)

    def forward(self, features: Tensor, feature_lens: Tensor) -> tuple[Tensor, ...]:
        encoded = self.model.encode(features, feature_lens)
        outputs: list[Tensor] = []
        for task in self.tasks:
            outputs += [self.model.heads[task].joiner.encoder_proj(encoded[task].out), encoded[task].lens]
        return tuple(outputs)


class PredictorGraph(nn.Module):
    """contexts (N, context_size) int64 → decoder_proj(predictor(contexts)) (N, J) for one task."""

    def __init__(self, model: HentSrt, task: str) -> None:
        super().__init__()
        self.predictor = model.heads[task].predictor
        self.decoder_proj = model.heads[task].joiner.decoder_proj

    def forward(self, contexts: Tensor) -> Tensor:
        return self.decoder_proj(self.predictor(contexts, need_pad=False)).squeeze(1)


class JoinerGraph(nn.Module):
    """encoder_out (N, J), decoder_out (N, J), both projected → logits (N, V) of one task."""

    def __init__(self, model: HentSrt, task: str) -> None:
        super().__init__()
        self.joiner = model.heads[task].joiner

    def forward(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiner(encoder_out, decoder_out, project_input=False)


class OfflineModel(nn.Module):
    """The offline model as one module whose methods are the graphs: ``encoder`` (:class:`EncoderGraph`),
    ``asr_predictor`` / ``st_predictor`` (:class:`PredictorGraph`), ``asr_joiner`` / ``st_joiner``
    (:class:`JoinerGraph`); only the methods of the model's tasks are traced."""

    def __init__(self, model: HentSrt) -> None:
        super().__init__()
        self.encoder_graph = EncoderGraph(model)
        self.predictors = nn.ModuleDict({t: PredictorGraph(model, t) for t in model.cfg.tasks})
        self.joiners = nn.ModuleDict({t: JoinerGraph(model, t) for t in model.cfg.tasks})

    def encoder(self, features: Tensor, feature_lens: Tensor) -> tuple[Tensor, ...]:
        return self.encoder_graph(features, feature_lens)

    def asr_predictor(self, contexts: Tensor) -> Tensor:
        return self.predictors["asr"](contexts)

    def asr_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiners["asr"](encoder_out, decoder_out)

    def st_predictor(self, contexts: Tensor) -> Tensor:
        return self.predictors["st"](contexts)

    def st_joiner(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        return self.joiners["st"](encoder_out, decoder_out)


def example_inputs(model: HentSrt) -> dict[str, tuple[Tensor, ...]]:
    """Example inputs for tracing: encoder (two utterances of different lengths), predictor, joiner per task."""
    frames = trace_num_frames(model)
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, frames, model.cfg.feature_dim, generator=generator)
    feature_lens = torch.tensor([frames, frames - 4], dtype=torch.int64)
    contexts = torch.tensor([[-1] * (model.cfg.context_size - 1) + [BLANK_ID], [1] * model.cfg.context_size])
    projected = torch.randn(2, model.cfg.joiner_dim, generator=generator)
    inputs: dict[str, tuple[Tensor, ...]] = {"encoder": (features, feature_lens)}
    for task in model.cfg.tasks:
        inputs[f"{task}_predictor"] = (contexts,)
        inputs[f"{task}_joiner"] = (projected, projected.flip(0))
    return inputs


# ---------------------------------------------------------------------------------------------------------
# metadata


def export_metadata(config: Config, model: HentSrt) -> dict[str, str]:
    """String key → string value metadata of an export (the same in every graph and in ``model.pt``).

    Keys: model_type (hier | shared), hierarchical (1 | 0), streaming (0; 1 in ``model-streaming.pt``),
    tasks ("asr,st"), <t>_vocab_size, blank_id,
    context_size, predictor, feature_dim, joiner_dim, blank_penalty_<t> and max_sym_per_frame (the config's
    decoding defaults), causal_<t>, chunk_size_<t> and left_context_frames_<t> (what the encoder of task t
    uses in evaluation; -1 = whole utterance / unlimited), tokens_<t> and bpe_model_<t> (file names next to
    the models; empty when the config names no tokenizer), encoder_out_projected (1), hent_srt_version.
    """
    cfg = config.model
    meta = {
        "model_type": cfg.encoder_type,
        "hierarchical": str(int(model.hierarchical)),
        "streaming": "0",
        "tasks": ",".join(cfg.tasks),
        "blank_id": str(BLANK_ID),
        "context_size": str(cfg.context_size),
        "predictor": cfg.predictor,
        "feature_dim": str(cfg.feature_dim),
        "joiner_dim": str(cfg.joiner_dim),
        "max_sym_per_frame": str(config.decode.max_sym_per_frame),
        "encoder_out_projected": "1",
        "hent_srt_version": hent_srt.__version__,
    }
    encoders = {"asr": model.encoder, "st": model.st_encoder if model.st_encoder is not None else model.encoder}
    bpe = {"asr": config.data.src_bpe_model, "st": config.data.tgt_bpe_model}
    for task in cfg.tasks:
        chunk, left = eval_chunking(model, task)
        meta[f"{task}_vocab_size"] = str(model.heads[task].vocab_size)
        meta[f"blank_penalty_{task}"] = repr(float(getattr(config.decode, f"blank_penalty_{task}")))
        meta[f"causal_{task}"] = str(int(encoders[task].causal))
        meta[f"chunk_size_{task}"] = str(chunk)
        meta[f"left_context_frames_{task}"] = str(left)
        meta[f"tokens_{task}"] = f"tokens-{task}.txt" if bpe[task] else ""
        meta[f"bpe_model_{task}"] = f"bpe-{task}.model" if bpe[task] else ""
    return meta


# ---------------------------------------------------------------------------------------------------------
# TorchScript


def export_torchscript(model: HentSrt, metadata: dict[str, str], path: str | Path) -> Path:
    """Trace :class:`OfflineModel` of ``model`` (put in eval mode) and save it to ``path`` (atomically)."""
    path = Path(path)
    model.eval()
    inputs = example_inputs(model)
    with traceable_zipformer(), torch.no_grad():
        traced = torch.jit.trace_module(OfflineModel(model), inputs, check_trace=False)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated but still loads in libtorch
        torch.jit.save(traced, str(tmp), _extra_files={METADATA_NAME: json.dumps(metadata, sort_keys=True)})
    tmp.replace(path)
    return path


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    """(module, metadata) of a ``model.pt`` written by :func:`export_torchscript`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found; export it with `hent-srt export --torchscript`")
    extra = {METADATA_NAME: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra[METADATA_NAME])


@torch.no_grad()
def torchscript_greedy_search(
    module: torch.jit.ScriptModule,
    metadata: dict[str, str],
    features: Tensor,
    feature_lens: Tensor,
    blank_penalty: dict[str, float] | None = None,
    max_sym_per_frame: int = 1,
) -> dict[str, list[list[int]]]:
    """Greedy search (:func:`hent_srt.decode.onnx_runtime.greedy_search_arrays`) with the TorchScript graphs.

    features (B, T, F) float32, feature_lens (B,) int64 → {task: B lists of token ids}; tasks missing from
    ``blank_penalty`` use the exported default penalties.
    """
    if features.dim() != 3 or not features.dtype.is_floating_point:
        raise ValueError(f"features must be a float (B, T, F) tensor, got {features.dtype} {tuple(features.shape)}")
    if feature_lens.shape != (features.size(0),) or feature_lens.dtype != torch.int64:
        raise ValueError(f"feature_lens must be int64 of shape ({features.size(0)},), got {feature_lens.dtype} "
                         f"{tuple(feature_lens.shape)}")
    if feature_lens.numel() and (int(feature_lens.min()) < 9 or int(feature_lens.max()) > features.size(1)):
        raise ValueError(f"feature_lens must lie in [9, T={features.size(1)}] (the front end needs 9 frames), "
                         f"got {feature_lens.tolist()}")
    tasks = metadata["tasks"].split(",")
    unknown = set(blank_penalty or {}) - set(tasks)
    if unknown:
        raise ValueError(f"blank_penalty names tasks {sorted(unknown)}; this model has tasks {tasks}")
    penalties = {t: float(metadata[f"blank_penalty_{t}"]) for t in tasks} | dict(blank_penalty or {})
    outputs = module.encoder(features, feature_lens)
    hyps = {}
    for i, task in enumerate(tasks):
        predictor = getattr(module, f"{task}_predictor")
        joiner = getattr(module, f"{task}_joiner")

        def predict(contexts, fn=predictor):
            return fn(torch.from_numpy(contexts)).numpy()

        def join(enc, dec, fn=joiner):
            return fn(torch.from_numpy(enc), torch.from_numpy(dec)).numpy()

        enc, lens = outputs[2 * i].numpy(), outputs[2 * i + 1].numpy()
        hyps[task] = greedy_search_arrays(enc, lens, predict, join, int(metadata["blank_id"]),
                                          int(metadata["context_size"]), penalties[task], max_sym_per_frame)
    return hyps


# ---------------------------------------------------------------------------------------------------------
# ONNX


def _save_onnx(module: nn.Module, args: tuple[Tensor, ...], path: Path, input_names: list[str],
               output_names: list[str], dynamic_axes: dict[str, dict[int, str]], metadata: dict[str, str],
               opset: int) -> None:
    """Export ``module`` (eval, traced by the TorchScript-based ONNX exporter) with metadata, atomically."""
    import onnx

    tmp = path.with_name(path.name + ".tmp")
    with traceable_zipformer(), torch.no_grad():
        torch.onnx.export(module, args, str(tmp), dynamo=False, opset_version=opset, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
    graph = onnx.load(str(tmp))
    _set_metadata(graph, metadata)
    onnx.save(graph, str(tmp))
    tmp.replace(path)


def _set_metadata(graph, metadata: dict[str, str]) -> None:
    del graph.metadata_props[:]
    for key, value in sorted(metadata.items()):
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def export_onnx(model: HentSrt, metadata: dict[str, str], out_dir: str | Path, opset: int = MIN_OPSET) -> list[Path]:
    """Write ``encoder.onnx``, ``predictor-<t>.onnx`` and ``joiner-<t>.onnx`` (see the module docstring)."""
    out_dir = Path(out_dir)
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset must be an integer >= {MIN_OPSET}, got {opset!r}")
    model.eval()
    inputs = example_inputs(model)
    tasks = list(model.cfg.tasks)
    enc_outputs = [name for t in tasks for name in (f"{t}_encoder_out", f"{t}_encoder_out_lens")]
    axes = {"features": {0: "N", 1: "T"}, "feature_lens": {0: "N"}}
    for t in tasks:
        axes[f"{t}_encoder_out"] = {0: "N", 1: f"T_{t}"}
        axes[f"{t}_encoder_out_lens"] = {0: "N"}
    written = [graph_file(out_dir, ENCODER_NAME)]
    _save_onnx(EncoderGraph(model), inputs["encoder"], written[0], ["features", "feature_lens"], enc_outputs,
               axes, metadata, opset)
    for t in tasks:
        path = graph_file(out_dir, f"predictor-{t}")
        _save_onnx(PredictorGraph(model, t), inputs[f"{t}_predictor"], path, ["contexts"], ["decoder_out"],
                   {"contexts": {0: "N"}, "decoder_out": {0: "N"}}, metadata, opset)
        written.append(path)
        path = graph_file(out_dir, f"joiner-{t}")
        _save_onnx(JoinerGraph(model, t), inputs[f"{t}_joiner"], path, ["encoder_out", "decoder_out"], ["logits"],
                   {"encoder_out": {0: "N"}, "decoder_out": {0: "N"}, "logits": {0: "N"}}, metadata, opset)
        written.append(path)
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
        tmp = target.with_name(target.name + ".tmp")
        logging.disable(logging.WARNING)  # the quantiser logs every tensor it leaves in float at INFO level
        try:
            quantize_dynamic(str(path), str(tmp), op_types_to_quantize=["MatMul", "Gemm"],
                             weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        graph = onnx.load(str(tmp))
        _set_metadata(graph, onnx_metadata(path))
        onnx.save(graph, str(tmp))
        tmp.replace(target)
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
        tmp = tokens.with_name(tokens.name + ".tmp")
        tmp.write_text("".join(f"{tokenizer.id_to_piece(i)} {i}\n" for i in range(vocab)), encoding="utf-8")
        tmp.replace(tokens)
        copy = out_dir / metadata[f"bpe_model_{task}"]
        tmp = copy.with_name(copy.name + ".tmp")
        shutil.copyfile(tokenizer.model_path, tmp)
        tmp.replace(copy)
        written += [tokens, copy]
    return written


# ---------------------------------------------------------------------------------------------------------
# command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", type=Path, required=True, help="experiment directory (holds config.yaml)")
    parser.add_argument("--config", type=Path, help="config (default: EXP_DIR/config.yaml)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="model weights to export")
    parser.add_argument("--out-dir", type=Path, help="default: EXP_DIR/export")
    parser.add_argument("--torchscript", action="store_true", help="write model.pt (default: both formats)")
    parser.add_argument("--onnx", action="store_true", help="write the ONNX graphs (default: both formats)")
    parser.add_argument("--int8", action="store_true", help="also write int8 dynamically quantised ONNX graphs")
    parser.add_argument("--streaming", action="store_true",
                        help="also write model-streaming.pt, the chunk-by-chunk TorchScript model (causal models)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="with --streaming: chunk in frames at 50 Hz baked in for both encoders (default: each "
                             "encoder's eval_chunk_size; published 64)")
    parser.add_argument("--left-context", type=int, default=None,
                        help="with --streaming: left context in frames at 50 Hz for both encoders (default: each "
                             "encoder's eval_left_context_frames; published 128)")
    parser.add_argument("--verify-cuts", type=Path, default=None,
                        help="cut manifest with features: check that the exports reproduce PyTorch's greedy "
                             "hypotheses on its first --verify-num utterances (exit 1 if not)")
    parser.add_argument("--verify-num", type=int, default=20, help="utterances for --verify-cuts (default 20)")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (>= {MIN_OPSET})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override, e.g. data.src_bpe_model=data/bpe_src/bpe.model")


def _check_onnx_available() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ValueError("--onnx needs the onnx and onnxruntime packages: pip install 'hent-srt[export]'") from None


def main(args: argparse.Namespace) -> int:
    from hent_srt import export_verify
    from hent_srt.decode.decode import load_model
    from hent_srt.decode.streaming import ModelGraphs
    from hent_srt.export_streaming import STREAMING_TORCHSCRIPT_NAME, export_streaming_torchscript

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    do_torchscript = args.torchscript or not args.onnx
    do_onnx = args.onnx or not args.torchscript
    try:
        if args.int8 and not do_onnx:
            raise ValueError("--int8 quantises the ONNX graphs: add --onnx (or drop --torchscript)")
        if not args.streaming and (args.chunk_size is not None or args.left_context is not None):
            raise ValueError("--chunk-size/--left-context set the chunking of --streaming: add --streaming")
        if do_onnx:
            _check_onnx_available()
        if args.opset < MIN_OPSET:
            raise ValueError(f"--opset must be >= {MIN_OPSET}, got {args.opset}")
        config_path = args.config or args.exp_dir / "config.yaml"
        if not Path(config_path).is_file():
            raise ValueError(f"config {config_path} not found; pass --config or an --exp-dir holding config.yaml")
        config = load_config(config_path, args.overrides)
        model = load_model(config, args.checkpoint, torch.device("cpu"))
        out_dir = args.out_dir or args.exp_dir / "export"
        out_dir.mkdir(parents=True, exist_ok=True)
        metadata = export_metadata(config, model)
        streaming_graphs = None
        if args.streaming:
            chunking = (args.chunk_size, args.left_context, args.chunk_size, args.left_context)
            streaming_graphs = ModelGraphs(model, *chunking)
        verify_batch = None
        if args.verify_cuts is not None:
            try:
                verify_batch = export_verify.load_features(args.verify_cuts, args.verify_num)
            except ValueError as err:
                raise ValueError(f"--verify-cuts/--verify-num: {err}") from None
        written = write_tokens(config, metadata, out_dir)
    except ValueError as err:
        print(f"hent-srt export: {err}", file=sys.stderr)
        return 2
    if do_torchscript:
        written.append(export_torchscript(model, metadata, out_dir / TORCHSCRIPT_NAME))
    if do_onnx:
        graphs = export_onnx(model, metadata, out_dir, args.opset)
        written += graphs
        if args.int8:
            written += quantize_int8(graphs)
    if streaming_graphs is not None:
        written.append(export_streaming_torchscript(streaming_graphs, metadata, out_dir / STREAMING_TORCHSCRIPT_NAME))
    for path in written:
        print(f"wrote {path}")
    if verify_batch is None:
        return 0
    features, feature_lens = verify_batch
    formats = {"torchscript": do_torchscript, "onnx": do_onnx, "int8": args.int8, "streaming": args.streaming}
    rows = export_verify.verify(model, metadata, out_dir, features, feature_lens, config.decode.max_sym_per_frame,
                                formats)
    print(f"verification on the first {len(feature_lens)} utterances of {args.verify_cuts}:")
    print(export_verify.format_table(rows))
    failed = export_verify.failures(rows)
    if failed:
        names = ", ".join(f"{r.format}/{r.task}" for r in failed)
        print(f"hent-srt export: {names} differ from the PyTorch model's greedy hypotheses", file=sys.stderr)
        return 1
    return 0
