"""Runtimes behind the transducer step interface: the PyTorch model, an export's TorchScript and ONNX graphs.

An offline runtime (:class:`OfflineRuntime`) has ``tasks``, ``default_penalties`` and

- ``encode(features (B, T, F) float32, feature_lens (B,) int64) -> {task: (enc (B, T_t, J), lens (B,))}``, the
  encoder output of each task head already passed through its joiner's encoder projection;
- ``step(task)``, a :class:`hent_srt.search.step.TransducerStep`,

so that :func:`search_heads` (greedy or modified beam search, one encoder pass for every head and penalty) runs
the same code on all of them: :class:`ModelRuntime` (a PyTorch :class:`hent_srt.model.hent.HentSrt`),
:class:`TorchScriptRuntime` (``model.pt``) and :class:`OnnxRuntime` (``encoder.onnx``, ``predictor-<t>.onnx``,
``joiner-<t>.onnx``). :class:`TorchScriptStreamingGraphs` runs ``model-streaming.pt`` behind
:class:`hent_srt.decode.streaming.StreamingGraphs`. The files are written by ``hent-srt export``
(:mod:`hent_srt.export`); their names and the metadata keys read here are defined in this module.

Metadata (a string → string map: ``metadata.json`` inside the TorchScript files, ``metadata_props`` of every ONNX
graph): ``tasks`` ("asr,st"), ``blank_id``, ``context_size``, ``feature_dim``, ``blank_penalty_<t>`` (the
config's decoding defaults), ``streaming`` (0 | 1) and, for a streaming export, ``chunk_size_<e>_encoder`` /
``left_context_frames_<e>_encoder`` per encoder e; the export writes more (see
:func:`hent_srt.export.metadata.export_metadata`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from hent_srt.decode.streaming import MIN_FEATURE_FRAMES, Chunking
from hent_srt.model.hent import BLANK_ID, HentSrt
from hent_srt.search.beam import modified_beam_search
from hent_srt.search.ctc import ctc_greedy_search
from hent_srt.search.greedy import greedy_search
from hent_srt.search.step import TransducerStep, check_penalty

TORCHSCRIPT_NAME = "model.pt"
STREAMING_TORCHSCRIPT_NAME = "model-streaming.pt"
METADATA_NAME = "metadata.json"
ENCODER_NAME = "encoder"
INT8_SUFFIX = ".int8"
SEARCH_METHODS = ("greedy", "modified_beam_search")


def graph_file(model_dir: str | Path, graph: str, int8: bool = False) -> Path:
    """Path of one exported ONNX graph: ``encoder``, ``predictor-<task>`` or ``joiner-<task>`` (``.int8``)."""
    return Path(model_dir) / f"{graph}{INT8_SUFFIX if int8 else ''}.onnx"


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def metadata_tasks(metadata: Mapping[str, str]) -> tuple[str, ...]:
    """The tasks of an export, in the order of its encoder outputs."""
    return tuple(metadata["tasks"].split(","))


def metadata_penalties(metadata: Mapping[str, str]) -> dict[str, float]:
    """The exported default blank penalty of each task."""
    return {t: float(metadata.get(f"blank_penalty_{t}", 0.0)) for t in metadata_tasks(metadata)}


def check_features(features: Tensor, feature_lens: Tensor, feature_dim: int) -> None:
    """Validate the input of an exported encoder: float32 (B, T, feature_dim), int64 lengths in [9, T]."""
    if features.dim() != 3 or features.size(2) != feature_dim or features.dtype != torch.float32:
        raise ValueError(f"features must be float32 (B, T, {feature_dim}), got {features.dtype} "
                         f"{tuple(features.shape)}")
    if feature_lens.shape != (features.size(0),) or feature_lens.dtype != torch.int64:
        raise ValueError(f"feature_lens must be int64 of shape ({features.size(0)},), got {feature_lens.dtype} "
                         f"{tuple(feature_lens.shape)}")
    if feature_lens.numel() and (int(feature_lens.min()) < MIN_FEATURE_FRAMES
                                 or int(feature_lens.max()) > features.size(1)):
        raise ValueError(f"feature_lens must lie in [{MIN_FEATURE_FRAMES}, T={features.size(1)}] (the front end "
                         f"needs {MIN_FEATURE_FRAMES} frames), got {feature_lens.tolist()}")


# ---------------------------------------------------------------------------------------------------------
# offline runtimes


class OfflineRuntime(Protocol):
    """Encoders and task heads of a whole-utterance model (see the module docstring)."""

    tasks: tuple[str, ...]
    default_penalties: dict[str, float]

    def encode(self, features: Tensor, feature_lens: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """features (B, T, F), feature_lens (B,) → {task: (projected encoder output (B, T_t, J), lens (B,))}."""

    def step(self, task: str) -> TransducerStep:
        """The predictor step and joiner of ``task``."""


class ModelRuntime:
    """:class:`OfflineRuntime` of a PyTorch :class:`HentSrt` (put in eval mode); its heads are the steps.

    ``default_penalties``: per task (default 0 for every task of the model)."""

    def __init__(self, model: HentSrt, default_penalties: Mapping[str, float] | None = None) -> None:
        self.model = model.eval()
        self.tasks = tuple(model.cfg.tasks)
        self.default_penalties = {t: 0.0 for t in self.tasks} | dict(default_penalties or {})

    @torch.no_grad()
    def encode(self, features: Tensor, feature_lens: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        return self.encode_with_ctc(features, feature_lens, ())[0]

    @torch.no_grad()
    def encode_with_ctc(
        self, features: Tensor, feature_lens: Tensor, ctc_tasks: Sequence[str]
    ) -> tuple[dict[str, tuple[Tensor, Tensor]], dict[str, list[list[int]]]]:
        """:meth:`encode` and, from the same encoder pass, the best-path hypotheses of the CTC heads of
        ``ctc_tasks`` (:func:`hent_srt.search.ctc.ctc_greedy_search`): ({task: (enc, lens)}, {task: B id lists}).
        Raises ValueError for a task without a CTC head (a model trained with ``model.use_ctc: false``)."""
        for task in ctc_tasks:
            if task not in self.tasks or self.model.heads[task].ctc_output is None:
                raise ValueError(f"the {task} head of this model has no CTC output (it needs a task {task!r} and "
                                 "model.use_ctc: true in training)")
        encoded = self.model.encode(features, feature_lens)
        projected = {t: (self.model.heads[t].project_encoder(encoded[t].out), encoded[t].lens) for t in self.tasks}
        ctc = {t: ctc_greedy_search(self.model.heads[t].ctc_output(encoded[t].out), encoded[t].lens, BLANK_ID)
               for t in ctc_tasks}
        return projected, ctc

    def step(self, task: str) -> TransducerStep:
        return self.model.heads[task]


def _load_scripted(path: str | Path, flag: str) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found; export it with `hent-srt export {flag}`")
    extra = {METADATA_NAME: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated but still loads
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    if not extra[METADATA_NAME]:
        raise ValueError(f"{path} has no hent-srt metadata; re-export it with `hent-srt export {flag}`")
    return module, json.loads(extra[METADATA_NAME])


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    """(module, metadata) of a TorchScript file written by ``hent-srt export`` (offline or streaming)."""
    return _load_scripted(path, "--torchscript")


class TorchScriptStep:
    """:class:`TransducerStep` of one task of a TorchScript export (methods ``<task>_predictor`` and
    ``<task>_joiner``; the streaming export also has ``<task>_encoder_proj``)."""

    def __init__(self, module: torch.jit.ScriptModule, task: str, metadata: Mapping[str, str]) -> None:
        self.blank_id = int(metadata["blank_id"])
        self.context_size = int(metadata["context_size"])
        self.predict = getattr(module, f"{task}_predictor")
        self.join = getattr(module, f"{task}_joiner")


class TorchScriptRuntime:
    """:class:`OfflineRuntime` of ``model.pt`` (:func:`hent_srt.export.offline.export_torchscript`): method
    ``encoder(features, feature_lens)`` returns (enc_t, lens_t) for each task t in order."""

    def __init__(self, path: str | Path) -> None:
        self.module, self.metadata = load_torchscript(path)
        if self.metadata.get("streaming") == "1":
            raise ValueError(f"{path} is a streaming export; load it with load_streaming_torchscript")
        self.tasks = metadata_tasks(self.metadata)
        self.default_penalties = metadata_penalties(self.metadata)
        self.feature_dim = int(self.metadata["feature_dim"])
        self._steps = {t: TorchScriptStep(self.module, t, self.metadata) for t in self.tasks}

    @torch.no_grad()
    def encode(self, features: Tensor, feature_lens: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        check_features(features, feature_lens, self.feature_dim)
        outputs = self.module.encoder(features, feature_lens)
        return {t: (outputs[2 * i], outputs[2 * i + 1]) for i, t in enumerate(self.tasks)}

    def step(self, task: str) -> TransducerStep:
        return self._steps[task]


class OnnxStep:
    """:class:`TransducerStep` of one task of the ONNX export: ``predictor-<t>.onnx`` (contexts → decoder_out)
    and ``joiner-<t>.onnx`` (encoder_out, decoder_out → logits) run by onnxruntime on CPU tensors."""

    def __init__(self, predictor, joiner, blank_id: int, context_size: int) -> None:
        self.predictor, self.joiner = predictor, joiner
        self.blank_id, self.context_size = blank_id, context_size

    def predict(self, contexts: Tensor) -> Tensor:
        return torch.from_numpy(self.predictor.run(None, {"contexts": contexts.numpy()})[0])

    def join(self, encoder_out: Tensor, decoder_out: Tensor) -> Tensor:
        feeds = {"encoder_out": encoder_out.numpy(), "decoder_out": decoder_out.numpy()}
        return torch.from_numpy(self.joiner.run(None, feeds)[0])


class OnnxRuntime:
    """:class:`OfflineRuntime` of the ONNX graphs in ``model_dir`` (``int8``: the ``*.int8.onnx`` variants), on
    the CPU with ``num_threads`` intra-op threads."""

    def __init__(self, model_dir: str | Path, int8: bool = False, num_threads: int = 1) -> None:
        try:
            import onnxruntime
        except ImportError as err:
            raise ValueError("onnxruntime is not installed; install it with `pip install 'hent-srt[export]'`") from err
        if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f"num_threads must be an integer >= 1, got {num_threads!r}")
        model_dir = Path(model_dir)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1

        def session(graph: str):
            path = graph_file(model_dir, graph, int8)
            if not path.is_file():
                raise ValueError(f"{path} not found; export it with `hent-srt export --onnx"
                                 f"{' --int8' if int8 else ''} --out-dir {model_dir}`")
            return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        self.encoder = session(ENCODER_NAME)
        self.metadata: dict[str, str] = dict(self.encoder.get_modelmeta().custom_metadata_map)
        if "tasks" not in self.metadata:
            raise ValueError(f"{graph_file(model_dir, ENCODER_NAME, int8)} has no hent-srt metadata; re-export it "
                             "with `hent-srt export --onnx`")
        self.tasks = metadata_tasks(self.metadata)
        self.default_penalties = metadata_penalties(self.metadata)
        self.feature_dim = int(self.metadata["feature_dim"])
        blank_id, context_size = int(self.metadata["blank_id"]), int(self.metadata["context_size"])
        self._steps = {t: OnnxStep(session(f"predictor-{t}"), session(f"joiner-{t}"), blank_id, context_size)
                       for t in self.tasks}

    def encode(self, features: Tensor, feature_lens: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        check_features(features, feature_lens, self.feature_dim)
        names = [o.name for o in self.encoder.get_outputs()]
        feeds = {"features": features.numpy(), "feature_lens": feature_lens.numpy()}
        values = {n: torch.from_numpy(v) for n, v in zip(names, self.encoder.run(None, feeds))}
        return {t: (values[f"{t}_encoder_out"], values[f"{t}_encoder_out_lens"]) for t in self.tasks}

    def step(self, task: str) -> TransducerStep:
        return self._steps[task]


def search(
    step: TransducerStep,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    method: str = "greedy",
    beam: int = 4,
    blank_penalty: float = 0.0,
    max_sym_per_frame: int = 1,
) -> list[list[int]]:
    """Token ids per utterance of one head: greedy search (``max_sym_per_frame``) or modified beam search
    (``beam``; one symbol per frame) on projected encoder output (B, T, J)."""
    if method == "greedy":
        return greedy_search(step, encoder_out, encoder_out_lens, blank_penalty, max_sym_per_frame)
    if method == "modified_beam_search":
        return modified_beam_search(step, encoder_out, encoder_out_lens, beam, blank_penalty)
    raise ValueError(f"method must be one of {SEARCH_METHODS}, got {method!r}")


def search_heads(
    runtime: OfflineRuntime,
    features: Tensor,
    feature_lens: Tensor,
    penalties: Mapping[str, Sequence[float]],
    method: str = "greedy",
    beam: int = 4,
    max_sym_per_frame: int = 1,
    encoded: Mapping[str, tuple[Tensor, Tensor]] | None = None,
) -> dict[str, dict[float, list[list[int]]]]:
    """One encoder pass, then :func:`search` for every task of ``penalties`` and each of its blank penalties:
    {task: {penalty: B token-id lists}}. ``encoded``: the output of ``runtime.encode`` for these features, when
    the caller has it already (the pass is then not repeated)."""
    unknown = set(penalties) - set(runtime.tasks)
    if unknown:
        raise ValueError(f"blank penalties name tasks {sorted(unknown)}; this model has tasks {list(runtime.tasks)}")
    for task, values in penalties.items():
        for value in values:
            check_penalty(value, f"blank penalty of {task}")
    if encoded is None:
        encoded = runtime.encode(features, feature_lens)
    return {task: {p: search(runtime.step(task), *encoded[task], method, beam, p, max_sym_per_frame) for p in values}
            for task, values in penalties.items()}


def greedy_decode(
    runtime: OfflineRuntime,
    features: Tensor,
    feature_lens: Tensor,
    blank_penalty: Mapping[str, float] | None = None,
    max_sym_per_frame: int = 1,
) -> dict[str, list[list[int]]]:
    """Greedy token ids of every task of ``runtime``: {task: B lists}; tasks missing from ``blank_penalty``
    use ``runtime.default_penalties``."""
    unknown = set(blank_penalty or {}) - set(runtime.tasks)
    if unknown:
        raise ValueError(f"blank_penalty names tasks {sorted(unknown)}; this model has tasks {list(runtime.tasks)}")
    penalties = dict(runtime.default_penalties) | dict(blank_penalty or {})
    hyps = search_heads(runtime, features, feature_lens, {t: (penalties[t],) for t in runtime.tasks},
                        max_sym_per_frame=max_sym_per_frame)
    return {t: hyps[t][penalties[t]] for t in runtime.tasks}


# ---------------------------------------------------------------------------------------------------------
# streaming


class TorchScriptStreamingGraphs:
    """:class:`hent_srt.decode.streaming.StreamingGraphs` of a ``model-streaming.pt`` (CPU), ready for
    ``StreamingDecoder(graphs, blank_penalty_asr=..., ...)``; the chunking is the one baked in at export."""

    def __init__(self, module: torch.jit.ScriptModule, metadata: dict[str, str]) -> None:
        if metadata.get("streaming") != "1":
            raise ValueError("this TorchScript model is not a streaming export; write one with "
                             "`hent-srt export --streaming`")
        self.module = module
        self.metadata = metadata
        self.tasks = metadata_tasks(metadata)
        self.feature_dim = int(metadata["feature_dim"])
        self.context_size = int(metadata["context_size"])
        self.blank_id = int(metadata["blank_id"])
        self.device = torch.device("cpu")
        self.asr = self._chunking("asr")
        self.st = self._chunking("st") if "chunk_size_st_encoder" in metadata else None
        self._steps = {t: TorchScriptStep(module, t, metadata) for t in self.tasks}

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

    def step(self, task: str) -> TransducerStep:
        return self._steps[task]


def load_streaming_torchscript(path: str | Path) -> TorchScriptStreamingGraphs:
    """The graphs of a ``model-streaming.pt`` written by ``hent-srt export --streaming``."""
    return TorchScriptStreamingGraphs(*_load_scripted(path, "--streaming"))
