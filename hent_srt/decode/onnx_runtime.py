"""Greedy transducer decoding of an exported HENT-SRT model with onnxruntime (no PyTorch model needed).

``hent-srt export --onnx`` writes, per model directory (see :mod:`hent_srt.export`):

- ``encoder.onnx``: features (N, T, F) float32, feature_lens (N,) int64 → for each task t of the model
  ``<t>_encoder_out`` (N, T_t, J), already passed through the task joiner's ``encoder_proj``, and
  ``<t>_encoder_out_lens`` (N,) int64;
- ``predictor-<t>.onnx``: contexts (N, context_size) int64 (a negative id means "no token") → decoder_out
  (N, J), the predictor output passed through the joiner's ``decoder_proj``;
- ``joiner-<t>.onnx``: encoder_out (N, J), decoder_out (N, J) → logits (N, V_t) = W_out · tanh(enc + dec) + b;
- with ``--int8`` the same graphs as ``*.int8.onnx``.

Every graph carries the export metadata (``metadata_props``: model type, tasks, vocabulary sizes, context
size, blank id, default blank penalties, chunk parameters, token files). :func:`greedy_search_arrays` is the
search of :func:`hent_srt.decode.search.greedy_search` on arrays and callables, so the same hypotheses come
out of PyTorch, TorchScript and onnxruntime components.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

ENCODER_NAME = "encoder"
INT8_SUFFIX = ".int8"


def graph_file(model_dir: Path, graph: str, int8: bool = False) -> Path:
    """Path of one exported graph: ``encoder``, ``predictor-<task>`` or ``joiner-<task>`` (``.int8`` variant)."""
    return Path(model_dir) / f"{graph}{INT8_SUFFIX if int8 else ''}.onnx"


def _check_penalty(penalty: float, name: str) -> None:
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty):
        raise ValueError(f"{name} must be a finite number, got {penalty!r}")


def greedy_search_arrays(
    encoder_out: np.ndarray,
    encoder_out_lens: np.ndarray,
    predictor: Callable[[np.ndarray], np.ndarray],
    joiner: Callable[[np.ndarray, np.ndarray], np.ndarray],
    blank_id: int,
    context_size: int,
    blank_penalty: float = 0.0,
    max_sym_per_frame: int = 1,
) -> list[list[int]]:
    """Batched greedy transducer search on projected encoder output.

    At frame t of utterance b (t < encoder_out_lens[b]) it emits
    y = argmax_v (joiner(enc[b, t], predictor(context_b))[v] - blank_penalty · [v = blank_id]);
    a non-blank y is appended, the context shifts left by one and takes y, and the search stays on frame t;
    a blank, or the ``max_sym_per_frame``-th symbol on this frame, moves to frame t + 1. Contexts start as
    ``[-1] * (context_size - 1) + [blank_id]``. This is :func:`hent_srt.decode.search.greedy_search` step for
    step (argmax ties go to the lowest id in both).

    Args:
        encoder_out: (B, T, J) float32, already projected by the joiner's ``encoder_proj``.
        encoder_out_lens: (B,) integer valid frames per utterance.
        predictor: contexts (N, context_size) int64 → (N, J) projected predictor output.
        joiner: (N, J), (N, J) → (N, V) logits.
        blank_id: the blank token id.
        context_size: the predictor's context size (>= 1).
        blank_penalty: subtracted from the blank logit (finite; 0 disables).
        max_sym_per_frame: most symbols emitted on one frame (>= 1).
    Returns:
        B lists of token ids (blank never included), in input order.
    """
    if encoder_out.ndim != 3:
        raise ValueError(f"encoder_out must be (B, T, J), got shape {encoder_out.shape}")
    lens = np.asarray(encoder_out_lens)
    if lens.shape != (encoder_out.shape[0],) or not np.issubdtype(lens.dtype, np.integer):
        raise ValueError(f"encoder_out_lens must be an integer array of shape ({encoder_out.shape[0]},), "
                         f"got {lens.dtype} {lens.shape}")
    if lens.size and (lens.min() < 0 or lens.max() > encoder_out.shape[1]):
        raise ValueError(f"encoder_out_lens must lie in [0, T={encoder_out.shape[1]}], got {lens.tolist()}")
    for name, value in (("context_size", context_size), ("max_sym_per_frame", max_sym_per_frame)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    _check_penalty(blank_penalty, "blank_penalty")
    batch_size = encoder_out.shape[0]
    contexts = np.array([[-1] * (context_size - 1) + [blank_id]] * batch_size, dtype=np.int64)
    contexts = contexts.reshape(batch_size, context_size)
    dec = predictor(contexts) if batch_size > 0 else np.zeros((0, encoder_out.shape[2]), np.float32)
    hyps: list[list[int]] = [[] for _ in range(batch_size)]
    for t in range(int(lens.max()) if batch_size > 0 else 0):
        rows = np.nonzero(lens > t)[0]
        for _ in range(max_sym_per_frame):
            logits = np.array(joiner(encoder_out[rows, t], dec[rows]), dtype=np.float32)  # (R, V)
            if blank_penalty != 0:
                logits[:, blank_id] -= np.float32(blank_penalty)
            tokens = logits.argmax(axis=-1)
            emitted = tokens != blank_id
            rows, tokens = rows[emitted], tokens[emitted]
            if rows.size == 0:
                break
            for row, token in zip(rows.tolist(), tokens.tolist()):
                hyps[row].append(token)
            contexts[rows] = np.concatenate([contexts[rows, 1:], tokens[:, None].astype(np.int64)], axis=1)
            dec[rows] = predictor(contexts[rows])
    return hyps


class OnnxTransducer:
    """An exported HENT-SRT model run by onnxruntime: encoders, then greedy search per task.

    ``OnnxTransducer(out_dir).greedy_search(features, feature_lens)`` → ``{"asr": [[ids]], "st": [[ids]]}``
    for features (B, T, F) float32 and lengths (B,) int64, as :func:`hent_srt.decode.search.greedy_search`
    gives on the PyTorch model.
    """

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
        self.tasks = tuple(self.metadata["tasks"].split(","))
        self.blank_id = int(self.metadata["blank_id"])
        self.context_size = int(self.metadata["context_size"])
        self.feature_dim = int(self.metadata["feature_dim"])
        self.predictors = {t: session(f"predictor-{t}") for t in self.tasks}
        self.joiners = {t: session(f"joiner-{t}") for t in self.tasks}

    def _check_features(self, features: np.ndarray, feature_lens: np.ndarray) -> None:
        if features.ndim != 3 or features.shape[2] != self.feature_dim or features.dtype != np.float32:
            raise ValueError(f"features must be float32 (B, T, {self.feature_dim}), got {features.dtype} "
                             f"{features.shape}")
        if feature_lens.shape != (features.shape[0],) or feature_lens.dtype != np.int64:
            raise ValueError(f"feature_lens must be int64 of shape ({features.shape[0]},), got "
                             f"{feature_lens.dtype} {feature_lens.shape}")
        if feature_lens.size and (feature_lens.min() < 9 or feature_lens.max() > features.shape[1]):
            raise ValueError(f"feature_lens must lie in [9, T={features.shape[1]}] (the front end needs 9 frames), "
                             f"got {feature_lens.tolist()}")

    def encode(self, features: np.ndarray, feature_lens: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """features (B, T, F) float32, feature_lens (B,) int64 → {task: (encoder_out (B, T_t, J), lens (B,))}."""
        self._check_features(features, feature_lens)
        names = [o.name for o in self.encoder.get_outputs()]
        values = dict(zip(names, self.encoder.run(None, {"features": features, "feature_lens": feature_lens})))
        return {t: (values[f"{t}_encoder_out"], values[f"{t}_encoder_out_lens"]) for t in self.tasks}

    def greedy_search(
        self,
        features: np.ndarray,
        feature_lens: np.ndarray,
        blank_penalty: dict[str, float] | None = None,
        max_sym_per_frame: int = 1,
    ) -> dict[str, list[list[int]]]:
        """Token ids per task for a batch of features (see :func:`greedy_search_arrays`).

        ``blank_penalty`` maps a task to its penalty; tasks left out use the exported defaults
        (metadata ``blank_penalty_<task>``).
        """
        penalties = {t: float(self.metadata.get(f"blank_penalty_{t}", 0.0)) for t in self.tasks}
        for task, value in (blank_penalty or {}).items():
            if task not in self.tasks:
                raise ValueError(f"blank_penalty names task {task!r}; this model has tasks {list(self.tasks)}")
            _check_penalty(value, f"blank_penalty[{task!r}]")
            penalties[task] = float(value)
        encoded = self.encode(features, feature_lens)
        out = {}
        for task in self.tasks:
            predictor, joiner = self.predictors[task], self.joiners[task]

            def predict(contexts: np.ndarray, session=predictor) -> np.ndarray:
                return session.run(None, {"contexts": contexts})[0]

            def join(enc: np.ndarray, dec: np.ndarray, session=joiner) -> np.ndarray:
                return session.run(None, {"encoder_out": enc, "decoder_out": dec})[0]

            enc, lens = encoded[task]
            out[task] = greedy_search_arrays(enc, lens, predict, join, self.blank_id, self.context_size,
                                             penalties[task], max_sym_per_frame)
        return out
