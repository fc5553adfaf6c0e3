"""Checkpoint files and model averaging for the trainer and for ``hent-srt average``.

A checkpoint is a dict written with ``torch.save``.  The keys these utilities rely on are:

- ``"model"``: the model's ``state_dict()``;
- ``"model_avg"``: the running average of the model (see ``update_averaged_model``), float64;
- ``"batch_idx_train"``: number of optimizer steps taken when the checkpoint was written.

The trainer may add anything else (optimizer, scheduler, sampler, RNG states, config ...), as long as it is
made of tensors and plain values: dicts, lists, tuples and sets of str, bytes, int, float, bool, complex,
None, torch dtypes, devices and sizes.  ``save_checkpoint`` refuses anything else, naming the entry, and
``load_checkpoint`` reads with ``torch.load(weights_only=True)``, which cannot run code from the file: a file
holding any other pickled object is refused with a message naming it.  Two kinds of plain data that trusted
trainers write are allowed besides (:data:`SAFE_GLOBALS`; rebuilding them runs no code): ``pathlib`` paths
(icefall stores its training options, ``exp_dir`` and the like, in every ``epoch-N.pt``) and, in files written
before this project's checkpoints were plain, numpy's uint32 random-state array.
File names in an experiment directory: ``epoch-N.pt`` (end of epoch N, from 1) and ``checkpoint-K.pt``
(after K steps).  Every file is written atomically: to a temporary name in the same directory, then
renamed over the target, so a crash never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import os
import pathlib
import pickle
import re
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

PathLike = str | os.PathLike

_PATTERNS = {"epoch": re.compile(r"^epoch-(\d+)\.pt$"), "step": re.compile(r"^checkpoint-(\d+)\.pt$")}


def _legacy_numpy_globals() -> list[Any]:
    """What numpy's legacy random state (an MT19937 uint32 key array) needs to be rebuilt, under the names
    numpy 2 and numpy 1 pickle it with; none of it runs code: it makes an empty array and fills it with bytes."""
    core = getattr(np, "_core", None) or np.core
    reconstruct = core.multiarray._reconstruct
    other_name = ("numpy.core" if core.__name__ == "numpy._core" else "numpy._core") + ".multiarray._reconstruct"
    found: list[Any] = [np.ndarray, np.dtype, reconstruct, (reconstruct, other_name)]
    if hasattr(np, "dtypes"):  # numpy >= 1.25 pickles a dtype through its class
        found.append(np.dtypes.UInt32DType)
    return found


LEGACY_NUMPY_GLOBALS = _legacy_numpy_globals()
SAFE_GLOBALS: list[Any] = [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.PureWindowsPath, *LEGACY_NUMPY_GLOBALS]

_PLAIN_LEAVES = (str, bytes, int, float, bool, complex, type(None), torch.dtype, torch.device, torch.Size)
_PLAIN_MAPPINGS = (dict, collections.OrderedDict)
_PLAIN_SEQUENCES = (list, tuple, set)


class CheckpointError(ValueError):
    """A checkpoint file cannot be used (missing, corrupt, truncated, unsafe, or missing a needed entry)."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint file does not exist."""


def check_plain(value: Any, where: str = "state") -> None:
    """Raise ValueError naming the first entry of ``value`` that is not a tensor or a plain value.

    Plain: see the module docstring; exact types only (a numpy float64 is a float subclass, but pickles as a
    numpy object that ``weights_only`` loading refuses).
    """
    kind = type(value)
    if isinstance(value, torch.Tensor) or kind in _PLAIN_LEAVES:
        return
    if kind in _PLAIN_MAPPINGS:
        for key, item in value.items():
            check_plain(key, f"{where} (key {key!r})")
            check_plain(item, f"{where}[{key!r}]")
        return
    if kind in _PLAIN_SEQUENCES:
        for i, item in enumerate(value):
            check_plain(item, f"{where}[{i}]")
        return
    raise ValueError(
        f"{where} is a {kind.__module__}.{kind.__qualname__}: checkpoints hold tensors and plain Python values "
        "only (dict, list, tuple, str, int, float, bool, None); convert it (e.g. torch.from_numpy, .item(), "
        "dataclasses.asdict) before saving"
    )


def save_checkpoint(path: PathLike, **state: Any) -> Path:
    """Write ``state`` (tensors and plain values, see :func:`check_plain`) to ``path`` atomically; return it.

    The parent directory is created if needed.  If writing fails part-way, the temporary file is
    removed and an existing file at ``path`` is left untouched.
    """
    if not state:
        raise ValueError("state: nothing to save; pass entries such as model=model.state_dict()")
    for key, value in state.items():
        check_plain(value, key)
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: {path} is a directory; give a file name such as {path}/epoch-1.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _allowing(extra_globals: list[Any]) -> contextlib.AbstractContextManager:
    """``torch.serialization.safe_globals`` (torch >= 2.5); without it, nothing beyond the defaults is allowed."""
    allow = getattr(torch.serialization, "safe_globals", None)
    return allow(extra_globals) if allow is not None else contextlib.nullcontext()


def load_checkpoint(path: PathLike, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint dict written by ``save_checkpoint``, safely (``torch.load(weights_only=True)``).

    Tensors and plain values only (plus :data:`SAFE_GLOBALS`, see the module docstring): a file
    that pickles any other object is refused, since unpickling it could run code.  ``mmap=True`` maps tensor
    data lazily from the file instead of reading it (cheap when only small entries are needed).  Raises
    ``CheckpointNotFoundError`` (a ``CheckpointError`` and a ``FileNotFoundError``) naming the file when it is
    missing and ``CheckpointError`` when it is refused, unreadable or not a dict.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(
            f"checkpoint {path} not found; check the path (e.g. exp/epoch-3.pt, exp/averaged.pt or exp/pretrained.pt)"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a regular file")
    try:
        with _allowing(SAFE_GLOBALS):
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if "weights only load failed" not in str(e).lower():
            raise CheckpointError(f"checkpoint {path} is unreadable ({e}); it may be truncated or corrupt: "
                                  "delete it and use an earlier one") from e
        found = re.search(r"GLOBAL (\S+)|got <class '([^']+)'>", str(e))
        what = next((g for g in found.groups() if g), "") if found else ""
        raise CheckpointError(
            f"checkpoint {path} refused: it pickles a Python object{f' ({what})' if what else ''} that is "
            "neither a tensor nor a plain value, and loading it could run code from the file. Checkpoints "
            "written by hent-srt hold tensors and plain values only, so this file comes from elsewhere or was "
            "altered; if you trust its source, keep only its weights with the program that wrote it, e.g. "
            f"python -c \"import torch; torch.save({{'model': torch.load('{path}', weights_only=False)['model']}}, "
            "'pretrained.pt')\" (icefall: export.py --jit 0 writes such a pretrained.pt)"
        ) from None
    except Exception as e:  # torch.load raises many types for damaged files
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); it may be truncated or "
            "corrupt: delete it and use an earlier one"
        ) from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(ckpt).__name__}, not a dict of entries; use a "
                              "checkpoint written by hent-srt train (epoch-N.pt) or a dict with a 'model' entry")
    return ckpt


def checkpoint_number(path: PathLike) -> int:
    """The N of ``epoch-N.pt`` or the K of ``checkpoint-K.pt``."""
    name = Path(path).name
    for pattern in _PATTERNS.values():
        m = pattern.match(name)
        if m:
            return int(m.group(1))
    raise ValueError(f"path: {name} is not named epoch-N.pt or checkpoint-K.pt")


def find_checkpoints(exp_dir: PathLike, kind: str = "epoch") -> list[Path]:
    """``epoch-N.pt`` (kind="epoch") or ``checkpoint-K.pt`` (kind="step") files, by increasing number.

    A directory that does not exist has no checkpoints (empty list).
    """
    if kind not in _PATTERNS:
        raise ValueError(f"kind={kind!r}: must be 'epoch' or 'step'")
    exp_dir = Path(exp_dir)
    if not exp_dir.exists():
        return []
    if not exp_dir.is_dir():
        raise ValueError(f"exp_dir: {exp_dir} is not a directory")
    found = []
    for entry in exp_dir.iterdir():
        m = _PATTERNS[kind].match(entry.name)
        if m and entry.is_file():
            found.append((int(m.group(1)), entry))
    return [p for _, p in sorted(found)]


def prune_checkpoints(exp_dir: PathLike, keep_last_k: int) -> list[Path]:
    """Delete all but the ``keep_last_k`` highest-numbered ``checkpoint-K.pt`` files; return the deleted."""
    if not (isinstance(keep_last_k, int) and not isinstance(keep_last_k, bool) and keep_last_k >= 1):
        raise ValueError(f"keep_last_k={keep_last_k!r}: must be an integer >= 1")
    doomed = find_checkpoints(exp_dir, kind="step")[:-keep_last_k]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def new_averaged_model(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` to hold the running average (floating tensors only are cast)."""
    return copy.deepcopy(_unwrap(model)).to(torch.float64)


def _unique_keys(state: dict[str, Tensor]) -> list[str]:
    """Keys of ``state`` with tied tensors (same storage pointer) listed once."""
    seen: set[int] = set()
    keys = []
    for k, v in state.items():
        if v.data_ptr() in seen and v.numel() > 0:
            continue
        seen.add(v.data_ptr())
        keys.append(k)
    return keys


def update_averaged_model(
    model_avg: nn.Module, model: nn.Module, average_period: int, batch_idx_train: int
) -> None:
    """Fold the current model into the running average, in float64 (icefall's averaged model).

        model_avg <- model_avg * (1 - w) + model * w,    w = average_period / batch_idx_train

    Called every ``average_period`` steps (``batch_idx_train`` a multiple of it), ``model_avg`` is
    the mean of the model snapshots taken at those steps.  Integer and bool buffers (counters) are
    copied from ``model``.  ``model`` may be wrapped in DistributedDataParallel.
    """
    if not (isinstance(average_period, int) and average_period >= 1):
        raise ValueError(f"average_period={average_period!r}: must be an integer >= 1")
    if not (isinstance(batch_idx_train, int) and batch_idx_train >= average_period):
        raise ValueError(
            f"batch_idx_train={batch_idx_train!r}: must be an integer >= average_period={average_period}"
        )
    avg = model_avg.state_dict()
    cur = _unwrap(model).state_dict()
    if avg.keys() != cur.keys():
        diff = sorted(set(avg) ^ set(cur))
        raise ValueError(
            f"model_avg: its entries differ from the model's ({diff[:5]}); build it with "
            "new_averaged_model(model)"
        )
    w = average_period / batch_idx_train
    with torch.no_grad():
        for k in _unique_keys(avg):
            a, c = avg[k], cur[k].to(avg[k].device)
            if a.is_floating_point():
                a.copy_(a.to(torch.float64) * (1.0 - w) + c.to(torch.float64) * w)
            else:
                a.copy_(c)


def _model_entry(ckpt: dict[str, Any], key: str, path: Path) -> dict[str, Tensor]:
    if key not in ckpt or not isinstance(ckpt[key], dict):
        fix = ("drop --use-averaged-model, or use epoch-N.pt files of hent-srt train, which keep the running "
               "average" if key == "model_avg" else "use a checkpoint written by hent-srt train (epoch-N.pt)")
        raise CheckpointError(f"checkpoint {path} has no '{key}' entry (keys: {sorted(ckpt)[:10]}); {fix}")
    return ckpt[key]


def _check_same_layout(ref: dict[str, Tensor], other: dict[str, Tensor], path: Path, key: str,
                       ref_path: Path) -> None:
    fix = "average only checkpoints of one training run (same model config)"
    if ref.keys() != other.keys():
        diff = sorted(set(ref) ^ set(other))
        raise CheckpointError(f"checkpoints {ref_path} and {path}: their '{key}' entries have different parameters "
                              f"({diff[:5]}); {fix}")
    for k, v in ref.items():
        if tuple(v.shape) != tuple(other[k].shape):
            raise CheckpointError(
                f"checkpoints {ref_path} and {path}: '{key}.{k}' has shape {tuple(v.shape)} in the first and "
                f"{tuple(other[k].shape)} in the second; {fix}"
            )


def average_checkpoints(
    paths: Iterable[PathLike], key: str = "model", load: Callable[[Path], dict[str, Any]] = load_checkpoint
) -> dict[str, Tensor]:
    """Plain mean of the ``key`` state dicts of several checkpoints.

        avg[name] = (1/N) * sum_i ckpt_i[key][name]     (accumulated in float64)

    Floating tensors come back in the last checkpoint's dtype; integer and bool buffers are taken
    from the last checkpoint. ``load`` reads one checkpoint file into its dict.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths: no checkpoints to average; give at least one file")
    sums: dict[str, Tensor] = {}
    last: dict[str, Tensor] = {}
    for i, path in enumerate(paths):
        state = _model_entry(load(path), key, path)
        if i == 0:
            sums = {k: v.to(torch.float64) for k, v in state.items() if v.is_floating_point()}
        else:
            _check_same_layout(last, state, path, key, paths[i - 1])
            for k in sums:
                sums[k] += state[k].to(torch.float64)
        last = state
    out = {}
    for k, v in last.items():
        out[k] = (sums[k] / len(paths)).to(v.dtype) if v.is_floating_point() else v.clone()
    return out


def average_checkpoints_with_averaged_model(
    start_path: PathLike, end_path: PathLike, load: Callable[[Path], dict[str, Any]] = load_checkpoint
) -> dict[str, Tensor]:
    """Average of the model over the steps after ``start_path`` up to ``end_path`` (icefall's
    ``--use-averaged-model``), from the running averages stored in the two checkpoints:

        avg = (model_avg_end * n_end - model_avg_start * n_start) / (n_end - n_start)

    with ``n = batch_idx_train``; computed in float64 as
    ``model_avg_end * (n_end / d) + model_avg_start * (-n_start / d)``, ``d = n_end - n_start``.
    Floating tensors come back in the dtype of the end checkpoint's ``"model"`` entry (float32 when it
    has none); integer and bool buffers come from that entry (else from its ``"model_avg"``).
    ``load`` reads one checkpoint file into its dict.
    """
    start_path, end_path = Path(start_path), Path(end_path)
    start, end = load(start_path), load(end_path)
    avg_start = _model_entry(start, "model_avg", start_path)
    avg_end = _model_entry(end, "model_avg", end_path)
    _check_same_layout(avg_end, avg_start, start_path, "model_avg", end_path)
    counts = []
    for ckpt, path in ((start, start_path), (end, end_path)):
        n = ckpt.get("batch_idx_train")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise CheckpointError(f"checkpoint {path} has no valid 'batch_idx_train' (got {n!r}); use epoch-N.pt "
                                  "files written by hent-srt train")
        counts.append(n)
    n_start, n_end = counts
    if n_end <= n_start:
        raise ValueError(
            f"end_path: {end_path} (batch_idx_train={n_end}) must come after {start_path} "
            f"(batch_idx_train={n_start}); pass the older checkpoint first"
        )
    model_end = end.get("model") if isinstance(end.get("model"), dict) else {}
    w_end = n_end / (n_end - n_start)
    w_start = -n_start / (n_end - n_start)
    out = {}
    for k, v in avg_end.items():
        ref = model_end.get(k, v)
        if v.is_floating_point():
            value = v.to(torch.float64) * w_end + avg_start[k].to(torch.float64) * w_start
            out[k] = value.to(ref.dtype if ref.is_floating_point() and k in model_end else torch.float32)
        else:
            out[k] = ref.clone()
    return out
