"""Model weights from checkpoint files, read without running code from them.

Every checkpoint is read by :func:`hent_srt.train.checkpoint.load_checkpoint` (``torch.load(weights_only=True)``:
tensors and plain Python data, plus the paths icefall stores); a file that needs anything else is refused with a
message naming what it holds, and nothing of it is executed.

Formats (icefall's, which hent-srt's trainer also writes):

- ``{"model": state_dict, ...}``: ``pretrained.pt``, ``epoch-N.pt``, ``best-valid-loss.pt``, ``averaged.pt``;
  trainer checkpoints also hold ``model_avg`` (the running average of the weights) and ``batch_idx_train``;
- a bare state dict (``{name: tensor}``);
- names prefixed ``module.`` (saved from a DDP-wrapped model): the prefix is removed.

:func:`read_weights` turns one of these sources into one state dict:

- one file: its ``model`` (or, with ``use_averaged_model``, its ``model_avg`` as it is);
- several files: the plain mean of their ``model`` entries, or with ``use_averaged_model`` (exactly two files,
  the older first) the average over the training steps between them, from their running averages;
- an experiment directory with ``epoch`` E and ``avg`` A, as icefall's decode.py: the plain mean of the
  ``model`` entries of ``epoch-(E-A+1).pt`` .. ``epoch-E.pt``, or with ``use_averaged_model``
  ``avg = (model_avg_E · n_E - model_avg_{E-A} · n_{E-A}) / (n_E - n_{E-A})``, n = ``batch_idx_train``
  (:mod:`hent_srt.train.checkpoint` computes both).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hent_srt.argtypes import boolean, int_at_least
from hent_srt.train.average import plan
from hent_srt.train.checkpoint import (
    average_checkpoints,
    average_checkpoints_with_averaged_model,
    load_checkpoint,
)

__all__ = ["DDP_PREFIX", "Weights", "add_averaging_arguments", "model_state", "read_weights", "strip_ddp_prefix"]

DDP_PREFIX = "module."

def _is_state_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items()
    )


def strip_ddp_prefix(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], bool]:
    """``state`` without the ``module.`` prefix of a DDP-wrapped model (when every name has it), and whether it had it."""
    if state and all(k.startswith(DDP_PREFIX) for k in state):
        return {k[len(DDP_PREFIX):]: v for k, v in state.items()}, True
    return state, False


def model_state(ckpt: Any, source: str | Path, use_averaged_model: bool = False) -> dict[str, Tensor]:
    """The state dict a loaded checkpoint holds: its ``model`` entry (``model_avg`` with ``use_averaged_model``),
    or the checkpoint itself when it is a bare state dict. ``source`` names the file in errors."""
    key = "model_avg" if use_averaged_model else "model"
    if isinstance(ckpt, dict) and key in ckpt:
        if not _is_state_dict(ckpt[key]):
            raise ValueError(f"checkpoint {source}: its {key!r} entry is not a state dict of tensors")
        return ckpt[key]
    if use_averaged_model:
        raise ValueError(
            f"checkpoint {source} has no 'model_avg' entry (the running average that icefall and hent-srt trainers "
            "save in epoch-N.pt); drop --use-averaged-model or use an epoch-N.pt"
        )
    if _is_state_dict(ckpt):
        return ckpt
    keys = sorted(ckpt)[:10] if isinstance(ckpt, dict) else type(ckpt).__name__
    raise ValueError(f"checkpoint {source} holds no model weights: no 'model' entry and not a state dict ({keys})")


@dataclass
class Weights:
    """A state dict read by :func:`read_weights` and what it was made from (for logs and ``import.json``)."""

    state: dict[str, Tensor]
    sources: list[str]
    how: str
    ddp_prefix_removed: bool = False
    batch_idx_train: dict[str, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"sources": self.sources, "how": self.how, "ddp_prefix_removed": self.ddp_prefix_removed,
                "batch_idx_train": self.batch_idx_train}


class _CountingLoader:
    """:func:`hent_srt.train.checkpoint.load_checkpoint` that remembers the ``batch_idx_train`` of every checkpoint
    it reads."""

    def __init__(self) -> None:
        self.batch_idx_train: dict[str, int] = {}

    def __call__(self, path: Path) -> Any:
        ckpt = load_checkpoint(path)
        n = ckpt.get("batch_idx_train") if isinstance(ckpt, dict) else None
        if isinstance(n, int) and not isinstance(n, bool):
            self.batch_idx_train[Path(path).name] = n
        return ckpt


def _average(paths: list[Path], use_averaged_model: bool, load: _CountingLoader) -> tuple[dict[str, Tensor], str]:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"missing checkpoint file(s): {', '.join(missing)}; lower --epoch/--avg or train further")
    if use_averaged_model:
        if len(paths) != 2:
            raise ValueError(
                f"--use-averaged-model averages between exactly two checkpoints (the older first), got {len(paths)}"
            )
        state = average_checkpoints_with_averaged_model(paths[0], paths[1], load=load)
        how = (f"averaged model over the steps after {paths[0].name} up to {paths[1].name}: "
               "(model_avg_end * n_end - model_avg_start * n_start) / (n_end - n_start), n = batch_idx_train")
    else:
        state = average_checkpoints(paths, load=load)
        how = f"plain mean of the 'model' entries of {', '.join(p.name for p in paths)}"
    return state, how


def _single(path: Path, use_averaged_model: bool, load: _CountingLoader) -> tuple[dict[str, Tensor], str]:
    """The weights of one file; a ``model_avg`` gets the dtypes of the ``model`` entry (float32 without one)."""
    ckpt = load(path)
    state = model_state(ckpt, path, use_averaged_model)
    if not use_averaged_model:
        return state, (f"the 'model' entry of {path.name}" if state is not ckpt else f"the state dict {path.name}")
    model = ckpt.get("model") if isinstance(ckpt.get("model"), dict) else {}
    state = {
        k: v.to(model[k].dtype if k in model and model[k].is_floating_point() else torch.float32)
        if v.is_floating_point() else v
        for k, v in state.items()
    }
    return state, f"the 'model_avg' entry of {path.name}, as it is"


def read_weights(
    source: str | Path | Sequence[str | Path],
    epoch: int | None = None,
    avg: int | None = None,
    use_averaged_model: bool = False,
) -> Weights:
    """One state dict from a file, several files, or an experiment directory with ``epoch``/``avg`` (module
    docstring). The ``module.`` prefix is removed. Raises ValueError naming the file or option at fault."""
    paths = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
    if not paths:
        raise ValueError("no checkpoint given; pass a file, several files, or a directory with --epoch and --avg")
    load = _CountingLoader()
    if epoch is not None or avg is not None:
        if epoch is None or avg is None:
            raise ValueError("--epoch and --avg go together (e.g. --epoch 20 --avg 13)")
        if len(paths) != 1 or not paths[0].is_dir():
            raise ValueError(f"--epoch/--avg select epoch-N.pt files of a directory; {paths[0]} is not a directory")
        paths = plan(paths[0], epoch, avg, use_averaged_model)
        state, how = _single(paths[0], False, load) if len(paths) == 1 else _average(paths, use_averaged_model, load)
    elif len(paths) == 1:
        if paths[0].is_dir():
            raise ValueError(f"{paths[0]} is a directory: give --epoch E --avg A to average its epoch-N.pt files")
        state, how = _single(paths[0], use_averaged_model, load)
    else:
        state, how = _average(paths, use_averaged_model, load)
    state, stripped = strip_ddp_prefix(state)
    return Weights(state, [str(p) for p in paths], how, stripped, load.batch_idx_train)


def add_averaging_arguments(parser: argparse.ArgumentParser, directory: str) -> None:
    """icefall's ``--epoch E --avg A [--use-averaged-model [True|False]]`` (for :func:`read_weights`);
    ``directory`` names where the ``epoch-N.pt`` files are, in the help."""
    parser.add_argument("--epoch", type=int_at_least(1), help=f"average the epoch-N.pt files of {directory} ending "
                                                            "at this epoch (icefall's --epoch)")
    parser.add_argument("--avg", type=int_at_least(1), help="number of epochs to average (icefall's --avg)")
    parser.add_argument("--use-averaged-model", type=boolean, nargs="?", const=True, default=False,
                        help="use the running averages (model_avg): between epoch-(E-A).pt and epoch-E.pt with "
                             "--epoch/--avg, or a single checkpoint's model_avg as it is")
