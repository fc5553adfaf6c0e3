"""``hent-srt train``: the training loop (single process or ``torchrun`` DDP), following icefall's Zipformer recipe.

    hent-srt train --config CFG --exp-dir DIR [--init-from CKPT] [--resume] [--set section.key=value ...]
    torchrun --nproc-per-node N -m hent_srt.cli train --config CFG --exp-dir DIR

One optimizer step per batch (``batch_idx_train`` counts batches, skipped ones included, as icefall)::

    n_model = batch_idx_train * max_duration * world_size / ref_duration      (the Zipformer schedules)
    train_step = batch_idx_train                                              (the model's loss warm-up)
    lr      = Eden(batch_idx_train, epoch - 1)                                  (ScaledAdam's learning rate)
    loss    = sum over utterances of the model's loss; reported per (encoder) frame

A batch whose loss is not finite on any rank (or whose loss inputs are: :class:`hent_srt.loss.NonFiniteError`),
or that runs out of CUDA memory, is skipped on every rank (no optimizer step), logged with its cut ids and counted
(``train/skipped_nonfinite``, ``train/skipped_oom`` in TensorBoard); ``train.max_consecutive_skips`` skips in a
row stop the run (exit status 3), and an epoch without a batch is an error (exit status 2). Every
``average_period`` steps rank 0 folds the model into a float64 running average. Files in DIR: ``config.yaml``
and ``env.json`` (resolved config, git commit, package versions, command line), ``checkpoint-K.pt`` every
``save_every_n`` steps (the last ``keep_last_k`` kept) and when ``max_steps`` stops the run, ``epoch-N.pt`` after
epoch N, ``best-valid-loss.pt`` (a copy of the epoch-N.pt whose end-of-epoch validation loss is the lowest;
validations between epoch ends are logged only), ``train.log`` and ``tensorboard/``. ``--resume`` continues from
the newest checkpoint exactly: model, optimizer, scheduler, grad scaler, averaged model, counters, and per rank
the data loader's position, the python/numpy/torch random states and the check probabilities of the model's
Whiten modules (which adapt during training and are not in its ``state_dict``). Checkpoints hold tensors and
plain values only (numpy's random state as a tensor) and are read with ``torch.load(weights_only=True)``
(:mod:`hent_srt.train.checkpoint`). Data loading is kept out of the training random streams (it runs under
``fork_rng``), and so is validation, so a resumed run draws the same dropout masks as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from hent_srt.config import Config, config_to_dict, load_config
from hent_srt.fileio import DirectoryLock, atomic_path
from hent_srt.loss import NonFiniteError
from hent_srt.model.scaling import set_batch_count, set_whiten_probs, whiten_probs
from hent_srt.optim import Eden, ScaledAdam
from hent_srt.train.checkpoint import (
    find_checkpoints,
    load_checkpoint,
    new_averaged_model,
    prune_checkpoints,
    save_checkpoint,
    update_averaged_model,
)
from hent_srt.train.distributed import (
    DistInfo,
    all_gather_objects,
    all_ranks_agree,
    all_reduce_sum,
    barrier,
    cleanup_distributed,
    dist_info_from_env,
    select_device,
    setup_distributed,
)
from hent_srt.train.env_info import write_experiment_info
from hent_srt.train.icefall import PRETRAINED_NAME, is_icefall_named, to_hent_names
from hent_srt.train.valid_metrics import (
    MetricSubset,
    compute_valid_metrics,
    examples_markdown,
    supports_metrics,
    take_subset,
)
from hent_srt.train.weights import read_weights

__all__ = [
    "AMP_CHOICES",
    "EXIT_DIVERGED",
    "EXIT_USER_ERROR",
    "AmpSettings",
    "Components",
    "LossTracker",
    "TrainState",
    "Trainer",
    "TrainingStopped",
    "add_arguments",
    "build_components",
    "fix_random_seed",
    "latest_checkpoint",
    "main",
    "prepare_trainer",
    "resolve_amp",
    "run_training",
    "set_cpu_threads",
]

log = logging.getLogger(__name__)

AMP_CHOICES = ("auto", "bf16", "fp16", "none")
# Counts among the model's outputs (plus the trainer's "audio_seconds" and "skipped_nonfinite"); every other
# entry of the model's output dict is a loss summed over utterances.
COUNT_KEYS = ("frames", "utterances", "ctc_dropped", "audio_seconds", "skipped_nonfinite")
FRAME_SHIFT_S = 0.01  # fbank frame shift: feature_lens * FRAME_SHIFT_S is seconds of audio
EXIT_USER_ERROR = 2  # `hent-srt train` exit status: bad input or settings (message on stderr)
EXIT_DIVERGED = 3  # `hent-srt train` exit status: stopped after train.max_consecutive_skips skipped batches


# --------------------------------------------------------------------------------------------------------
# small pieces


@dataclass(frozen=True)
class AmpSettings:
    """Mixed precision: ``dtype`` for autocast (None: float32) and whether a GradScaler is needed (fp16)."""

    dtype: torch.dtype | None
    use_grad_scaler: bool

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve_amp(amp: str, device: torch.device) -> AmpSettings:
    """``train.amp`` → settings: bf16 or fp16 (with a grad scaler) on CUDA; float32 on the CPU.

    "auto" picks bf16 when the GPU supports it, else float32. A bf16/fp16 request on the CPU trains in float32.
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"train.amp={amp!r}: choose one of {', '.join(AMP_CHOICES)}")
    if device.type != "cuda":
        if amp in ("bf16", "fp16"):
            log.warning("train.amp=%s needs CUDA; training in float32 on %s", amp, device)
        return AmpSettings(None, False)
    if amp == "auto":
        amp = "bf16" if torch.cuda.is_bf16_supported() else "none"
    if amp == "bf16":
        return AmpSettings(torch.bfloat16, False)
    if amp == "fp16":
        return AmpSettings(torch.float16, True)
    return AmpSettings(None, False)


def set_cpu_threads(num_threads: int) -> None:
    """Set torch's intra-op CPU threads to ``num_threads`` (0: leave torch's default) and log the count in use."""
    if num_threads:
        torch.set_num_threads(num_threads)
    log.info("torch CPU threads: %d (train.num_threads=%d; runs repeat bit for bit only at one thread count)",
             torch.get_num_threads(), num_threads)


def fix_random_seed(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _numpy_rng_state() -> dict[str, Any]:
    """numpy's global MT19937 state as plain values and an int64 tensor (``np.random.get_state()`` holds an array)."""
    name, key, pos, has_gauss, cached_gaussian = np.random.get_state()
    return {"bit_generator": str(name), "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)}


def _set_numpy_rng_state(state: Mapping[str, Any] | tuple) -> None:
    """Inverse of :func:`_numpy_rng_state`; also takes numpy's own tuple (checkpoints written before it)."""
    if isinstance(state, Mapping):
        state = (state["bit_generator"], state["key"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
                 state["cached_gaussian"])
    np.random.set_state(state)


def _rng_state(device: torch.device) -> dict[str, Any]:
    """Every random state a step draws from, as tensors and plain values (python's is a tuple of ints)."""
    state = {"python": random.getstate(), "numpy": _numpy_rng_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    random.setstate(state["python"])
    _set_numpy_rng_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@dataclass
class TrainState:
    """Counters saved in every checkpoint.

    ``epoch`` is the (1-based) epoch in progress, or the next one when ``batches_in_epoch`` is 0;
    ``batch_idx_train`` counts batches since the start of training (skipped ones included);
    ``best_valid_loss`` is the lowest end-of-epoch validation loss, reached at step ``best_valid_step``.
    """

    epoch: int = 1
    batch_idx_train: int = 0
    batches_in_epoch: int = 0
    best_valid_loss: float = math.inf
    best_valid_step: int = 0
    num_skipped_nonfinite: int = 0
    num_skipped_oom: int = 0
    consecutive_skipped: int = 0


class LossTracker:
    """Sums of a model's outputs over batches: losses (summed over utterances) and counts (``COUNT_KEYS``)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}

    def add(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)

    def per_frame(self) -> dict[str, float]:
        """Every loss divided by the frame count; counts as they are (nan losses without frames)."""
        frames = self.sums.get("frames", 0.0)
        return {
            key: value if key in COUNT_KEYS else (value / frames if frames > 0 else math.nan)
            for key, value in self.sums.items()
        }


class TrainLoader(Protocol):
    """What the trainer needs from a training loader (``hent_srt.data.loader.ResumableLoader``)."""

    def __iter__(self) -> Iterator[Any]: ...

    def set_epoch(self, epoch: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def whole_batch(batch: Any) -> tuple[Any, ...]:
    """The default ``model_inputs`` of :class:`Trainer`: the model's forward takes the batch itself."""
    return (batch,)


@dataclass
class Components:
    """A model following the loss protocol, its data, and how a batch becomes the model's forward arguments:
    see :class:`Trainer`."""

    model: nn.Module
    train_loader: TrainLoader
    valid_loader: Iterable[Any] | None
    model_inputs: Callable[[Any], tuple[Any, ...]] = whole_batch
    tokenizers: Mapping[str, Any] | None = None  # task → tokenizer (``decode(ids)``), for the validation metrics


class TrainingStopped(RuntimeError):
    """Training cannot go on: the message says why and what to do; ``hent-srt train`` exits with ``exit_status``
    (:data:`EXIT_USER_ERROR` for data to fix, :data:`EXIT_DIVERGED` after too many skipped batches in a row)."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def _check_train_config(config: Config) -> None:
    t = config.train
    positive = {
        "train.num_epochs": t.num_epochs, "train.save_every_n": t.save_every_n, "train.keep_last_k": t.keep_last_k,
        "train.average_period": t.average_period, "train.log_interval": t.log_interval,
        "train.valid_interval": t.valid_interval,
    }
    for name, value in positive.items():
        if value < 1:
            raise ValueError(f"{name}={value}: must be >= 1")
    if t.max_steps < 0:
        raise ValueError(f"train.max_steps={t.max_steps}: must be >= 0 (0: no limit)")
    if t.num_threads < 0:
        raise ValueError(f"train.num_threads={t.num_threads}: must be >= 0 (0: torch's default)")
    if t.valid_metrics_num_utts < 0:
        raise ValueError(f"train.valid_metrics_num_utts={t.valid_metrics_num_utts}: must be >= 0 (0: no metrics)")
    if t.valid_metrics_unit not in ("word", "char"):
        raise ValueError(f"train.valid_metrics_unit={t.valid_metrics_unit!r}: choose word (WER) or char (CER)")
    if t.max_consecutive_skips < 0:
        raise ValueError(f"train.max_consecutive_skips={t.max_consecutive_skips}: must be >= 0 (0: no limit)")
    if not t.ref_duration > 0:
        raise ValueError(f"train.ref_duration={t.ref_duration}: must be > 0 seconds (icefall: 600)")
    d = config.data
    if not d.max_duration > 0:
        raise ValueError(f"data.max_duration={d.max_duration}: must be > 0 seconds")
    if d.num_workers < 0:
        raise ValueError(f"data.num_workers={d.num_workers}: must be >= 0 (0: load batches in the main process)")
    if not 0 <= d.min_utterance_duration < d.max_utterance_duration:
        raise ValueError(f"data.min_utterance_duration={d.min_utterance_duration} and data.max_utterance_duration="
                         f"{d.max_utterance_duration}: need 0 <= min_utterance_duration < max_utterance_duration "
                         "(seconds)")
    lr = config.optim.base_lr
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"optim.base_lr={lr}: must be a finite number > 0 (published: 0.045)")
    resolve_amp(t.amp, torch.device("cpu"))


def latest_checkpoint(exp_dir: str | Path) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint of ``exp_dir`` with the most training batches behind it, loaded (None, None if none)."""
    candidates = find_checkpoints(exp_dir, "epoch")[-1:] + find_checkpoints(exp_dir, "step")[-1:]
    best: tuple[Path | None, dict[str, Any] | None] = (None, None)
    for path in candidates:
        ckpt = load_checkpoint(path)
        if best[1] is None or ckpt.get("batch_idx_train", -1) > best[1].get("batch_idx_train", -1):
            best = (path, ckpt)
    return best


# --------------------------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """ScaledAdam + Eden training of a model that follows the loss protocol.

    The model's ``forward(*model_inputs(batch))`` returns a dict with "loss" (a float32 scalar summed over the utterances,
    the only entry with a graph), any named loss terms (detached scalars, also sums) and the counts
    "frames" and "utterances"; schedules inside the model read the batch count set by ``set_batch_count``
    and the raw step count in the attribute ``train_step``.
    Batches have ``.to(device)``, ``feature_lens`` (B,) int64 and ``cut_ids``. The training loader follows
    :class:`TrainLoader`; the validation loader is any iterable of batches (or None).

    Args:
        config: the experiment (sections ``optim``, ``train`` and ``data.max_duration`` are read here).
        model: the model, on the CPU or on ``device``.
        train_loader, valid_loader: this rank's share of the data.
        exp_dir: where checkpoints, logs and TensorBoard go (written by rank 0 only).
        dist_info: this process's rank (default: a single process; a process group must already be joined
            when world_size > 1). The model is wrapped in DistributedDataParallel whenever a group is joined.
        device: where to train (default: the CPU).
        show_progress: show a tqdm bar (rank 0).
        model_inputs: batch → positional arguments of the model's forward (default: the batch itself).
        tokenizers: task → tokenizer; with them (and a model with ``encode`` and ``heads``) each validation also
            reports greedy WER / BLEU on a fixed subset (:mod:`hent_srt.train.valid_metrics`, rank 0).
    """

    def __init__(
        self,
        config: Config,
        model: nn.Module,
        train_loader: TrainLoader,
        valid_loader: Iterable[Any] | None,
        exp_dir: str | Path,
        dist_info: DistInfo | None = None,
        device: torch.device | None = None,
        show_progress: bool = True,
        model_inputs: Callable[[Any], tuple[Any, ...]] = whole_batch,
        tokenizers: Mapping[str, Any] | None = None,
    ) -> None:
        _check_train_config(config)
        dist_info = dist_info or DistInfo()
        device = device or torch.device("cpu")
        self.config = config
        self.exp_dir = Path(exp_dir)
        self.dist = dist_info
        self.device = device
        self.show_progress = show_progress and dist_info.is_main
        self.train_loader = train_loader
        self.valid_loader = valid_loader
        self.model_inputs = model_inputs
        self.tokenizers = dict(tokenizers or {})
        self._metric_subset: MetricSubset | None = None
        self.raw_model = model.to(device)
        self.model: nn.Module = self.raw_model
        group_joined = torch.distributed.is_available() and torch.distributed.is_initialized()
        if dist_info.is_distributed or group_joined:  # a group joined at world size 1 (gpu_check) is used too
            self.model = DistributedDataParallel(
                self.raw_model,
                device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=config.train.find_unused_parameters,
            )
        optim = config.optim
        self.optimizer = ScaledAdam(
            [(name, p) for name, p in self.raw_model.named_parameters() if p.requires_grad],
            lr=optim.base_lr, clipping_scale=optim.clipping_scale, betas=(optim.betas[0], optim.betas[1]),
        )
        self.scheduler = Eden(self.optimizer, optim.lr_batches, optim.lr_epochs, warmup_batches=optim.warmup_batches)
        self.amp = resolve_amp(config.train.amp, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp.use_grad_scaler, init_scale=1.0)
        self.model_avg = self._new_model_avg()
        self.state = TrainState()
        self._resumed_rank_state: dict[str, Any] | None = None
        self._last_step_checkpoint = -1
        self._last_validation = (-1, math.nan)  # (step, loss) of the newest validation
        self._bleu_signature_logged = False
        self.writer: Any = None

    # ---------------------------------------------------------------------------------------- set-up

    def _new_model_avg(self) -> nn.Module | None:
        return new_averaged_model(self.raw_model).to("cpu") if self.dist.is_main else None

    def init_from(self, path: str | Path, allow_partial: bool = False) -> None:
        """Load model weights from a checkpoint, read as data only (``model.init_from(state_dict)`` if the model
        has it, else a strict load). A directory means its ``pretrained.pt`` (an ``import-icefall`` directory);
        icefall-named weights are renamed. ``allow_partial`` lets ``HentSrt.init_from`` load a checkpoint that
        fits only in part."""
        path = Path(path)
        source = path / PRETRAINED_NAME if path.is_dir() else path
        weights = read_weights(source).state
        if is_icefall_named(weights):
            weights, _ = to_hent_names(weights)
        own = self.raw_model.state_dict()
        if not any(name in own and own[name].shape == tensor.shape for name, tensor in weights.items()):
            raise ValueError(f"--init-from {source}: not one of its {len(weights)} tensors fits this model (no name "
                             "with the same shape); initialise from a checkpoint of this model's architecture, e.g. "
                             "the ASR pre-training's epoch-N.pt or averaged.pt")
        try:
            if hasattr(self.raw_model, "init_from"):
                self.raw_model.init_from(weights, **({"allow_partial": True} if allow_partial else {}))
            else:
                self.raw_model.load_state_dict(weights, strict=True)
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"--init-from {source}: {err}") from None
        self.model_avg = self._new_model_avg()
        log.info("initialised the model from %s", path)

    def load_state(self, ckpt: Mapping[str, Any], source: str = "checkpoint") -> None:
        """Restore everything :meth:`checkpoint_state` saved, for an exact continuation."""
        missing = {"model", "optimizer", "scheduler", "grad_scaler", "train_state", "rank_states"} - set(ckpt)
        if missing:
            raise ValueError(f"{source}: missing {sorted(missing)}; it was not written by hent-srt train")
        state = TrainState(**ckpt["train_state"])
        rank_states = ckpt["rank_states"]
        if state.batches_in_epoch > 0 and len(rank_states) != self.dist.world_size:
            raise ValueError(
                f"{source} was written by {len(rank_states)} processes in the middle of an epoch; resume it "
                f"with {len(rank_states)} processes (this run has {self.dist.world_size}), or resume from an "
                "epoch-N.pt, or start a new run with --init-from"
            )
        self.raw_model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["grad_scaler"])
        if self.model_avg is not None and "model_avg" in ckpt:
            self.model_avg.load_state_dict(ckpt["model_avg"])
        self.state = state
        own_state = rank_states[min(self.dist.rank, len(rank_states) - 1)]
        if "whiten_probs" in own_state:
            set_whiten_probs(self.raw_model, own_state["whiten_probs"])
        elif whiten_probs(self.raw_model):
            log.warning("%s predates saved Whiten probabilities: they restart at their maximum, so this run "
                        "continues close to, but not bit for bit like, an uninterrupted one", source)
        if state.batches_in_epoch > 0:
            self._resumed_rank_state = rank_states[self.dist.rank]
        log.info("resumed from %s: epoch %d, %d batches into it, step %d",
                 source, state.epoch, state.batches_in_epoch, state.batch_idx_train)

    # ---------------------------------------------------------------------------------------- checkpoints

    def checkpoint_state(self) -> dict[str, Any] | None:
        """The checkpoint dict on rank 0 (None elsewhere); every rank must call it (it gathers rank states)."""
        rank_state = {"loader": self.train_loader.state_dict(), "rng": _rng_state(self.device),
                      "whiten_probs": whiten_probs(self.raw_model)}
        rank_states = all_gather_objects(rank_state)
        if not self.dist.is_main:
            return None
        return {
            "model": self.raw_model.state_dict(),
            "model_avg": self.model_avg.state_dict() if self.model_avg is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "grad_scaler": self.scaler.state_dict(),
            "train_state": dataclasses.asdict(self.state),
            "rank_states": rank_states,
            "batch_idx_train": self.state.batch_idx_train,
            "world_size": self.dist.world_size,
            "config": config_to_dict(self.config),
        }

    def save(self, name: str) -> Path:
        """Write ``exp_dir/name`` (rank 0) atomically; collective over ranks."""
        path = self.exp_dir / name
        payload = self.checkpoint_state()
        if payload is not None:
            save_checkpoint(path, **payload)
            log.info("saved %s", path)
        barrier()
        return path

    def _save_step_checkpoint(self) -> None:
        self.save(f"checkpoint-{self.state.batch_idx_train}.pt")
        self._last_step_checkpoint = self.state.batch_idx_train
        if self.dist.is_main:
            prune_checkpoints(self.exp_dir, self.config.train.keep_last_k)

    def _copy_atomic(self, src: Path, name: str) -> None:
        with atomic_path(self.exp_dir / name) as tmp:
            shutil.copyfile(src, tmp)

    # ---------------------------------------------------------------------------------------- the loop

    def fit(self) -> TrainState:
        """Train until ``train.num_epochs`` epochs are done or ``train.max_steps`` batches were seen."""
        if self.dist.is_main and self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.exp_dir / "tensorboard"), purge_step=self.state.batch_idx_train + 1)
        try:
            while self.state.epoch <= self.config.train.num_epochs and not self._reached_max_steps():
                self.train_one_epoch()
            if self._reached_max_steps() and self._last_step_checkpoint != self.state.batch_idx_train:
                self._save_step_checkpoint()
        finally:
            if self.writer is not None:
                self.writer.close()
                self.writer = None
        return self.state

    def _reached_max_steps(self) -> bool:
        max_steps = self.config.train.max_steps
        return max_steps > 0 and self.state.batch_idx_train >= max_steps

    def adjusted_batch_count(self) -> float:
        """The model's schedule position: ``batch_idx_train * max_duration * world_size / ref_duration``."""
        cfg = self.config
        return self.state.batch_idx_train * cfg.data.max_duration * self.dist.world_size / cfg.train.ref_duration

    def _set_schedule_position(self) -> None:
        """Zipformer schedules at :meth:`adjusted_batch_count`; the loss warm-up (``train_step``) at the raw step."""
        set_batch_count(self.raw_model, self.adjusted_batch_count())
        self.raw_model.train_step = self.state.batch_idx_train

    def _begin_epoch(self) -> Iterator[Any]:
        epoch = self.state.epoch
        self.scheduler.step_epoch(epoch - 1)
        if self._resumed_rank_state is not None:
            self.train_loader.load_state_dict(self._resumed_rank_state["loader"])
            _set_rng_state(self._resumed_rank_state["rng"], self.device)
            self._resumed_rank_state = None
        else:
            fix_random_seed(self.config.train.seed + epoch - 1)
            self.train_loader.set_epoch(epoch - 1)
        with self._fork_rng():
            return iter(self.train_loader)

    def _fork_rng(self) -> contextlib.AbstractContextManager:
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        return torch.random.fork_rng(devices=devices)

    def _next_batch(self, batches: Iterator[Any]) -> Any | None:
        """The next batch, or None when this epoch is over on any rank; does not touch the training RNG."""
        with self._fork_rng():
            batch = next(batches, None)
        if not all_ranks_agree(batch is not None, self.device):
            return None
        return batch

    def train_one_epoch(self) -> None:
        """Train on the rest of the current epoch (or until ``max_steps``); then validate and save."""
        batches = self._begin_epoch()
        self.model.train()
        tracker = LossTracker()
        interval_start = time.monotonic()
        bar = tqdm(desc=f"epoch {self.state.epoch}", unit="batch", disable=not self.show_progress,
                   initial=self.state.batches_in_epoch, dynamic_ncols=True)
        with bar:
            while not self._reached_max_steps():
                batch = self._next_batch(batches)
                if batch is None:
                    self._end_epoch()
                    return
                self.state.batch_idx_train += 1
                self.state.batches_in_epoch += 1
                values = self.train_step(batch)
                if values is not None:
                    values["audio_seconds"] = float(batch.feature_lens.sum()) * FRAME_SHIFT_S
                    tracker.add(values)
                bar.update(1)
                self._after_step()
                if self.state.batch_idx_train % self.config.train.log_interval == 0:
                    self._log_train(tracker, time.monotonic() - interval_start, bar)
                    tracker = LossTracker()
                    interval_start = time.monotonic()

    def _after_step(self) -> None:
        cfg = self.config.train
        n = self.state.batch_idx_train
        if self.model_avg is not None and n % cfg.average_period == 0:
            update_averaged_model(self.model_avg, self.raw_model, cfg.average_period, n)
        if self.valid_loader is not None and n % cfg.valid_interval == 0:
            self.validate()
        if n % cfg.save_every_n == 0:
            self._save_step_checkpoint()

    def _end_epoch(self) -> None:
        """Validate (unless just done), move to the next epoch and write ``epoch-N.pt``.

        An epoch without a single batch raises :class:`TrainingStopped` (exit status 2), before any file."""
        finished = self.state.epoch
        step = self.state.batch_idx_train
        if self.state.batches_in_epoch == 0:
            where = "on at least one process " if self.dist.is_distributed else ""
            message = (
                f"epoch {finished}: the training data gave no batch {where}(0 steps): every cut of data.train_cuts "
                "was filtered out, or the manifest is empty. The filter_cuts line above says why cuts were dropped; "
                "check data.min_utterance_duration / data.max_utterance_duration and that the transcripts fit the "
                "encoder frames" + (", and that there are at least as many cuts as processes" if where else "")
            )
            log.error("%s", message)
            raise TrainingStopped(message, exit_status=EXIT_USER_ERROR)
        improved = False
        if self.valid_loader is not None:
            validated_step, loss = self._last_validation
            if validated_step != step:
                loss = self.validate()
            improved = loss < self.state.best_valid_loss
            if improved:
                self.state.best_valid_loss, self.state.best_valid_step = loss, step
        self.state.epoch += 1
        self.state.batches_in_epoch = 0
        path = self.save(f"epoch-{finished}.pt")
        if improved and self.dist.is_main:
            self._copy_atomic(path, "best-valid-loss.pt")
        barrier()
        log.info("epoch %d done (step %d; skipped %d non-finite, %d out-of-memory batches)", finished,
                 self.state.batch_idx_train, self.state.num_skipped_nonfinite, self.state.num_skipped_oom)

    # ---------------------------------------------------------------------------------------- one step

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp.dtype)

    def _describe(self, batch: Any) -> str:
        seconds = float(batch.feature_lens.sum()) * FRAME_SHIFT_S
        return f"{len(batch.cut_ids)} utterances, {seconds:.1f} s of audio, cut ids {list(batch.cut_ids)}"

    def _forward(self, batch: Any) -> tuple[torch.Tensor | None, dict[str, float], str]:
        """(loss, values, failure) where failure is "" (fine), "nonfinite" or "oom"."""
        try:
            with self._autocast():
                out = self.model(*self.model_inputs(batch))
            if "loss" not in out:
                raise ValueError(f"the model returned {sorted(out)}; its forward() must return a 'loss' entry")
            keys = list(out)
            stacked = torch.stack([out[k].detach().float().reshape(()) for k in keys]).cpu()
        except torch.cuda.OutOfMemoryError:
            log.error("CUDA out of memory in the forward pass at step %d on %s; skipping this batch "
                      "(lower data.max_duration if it happens often)",
                      self.state.batch_idx_train, self._describe(batch))
            return None, {}, "oom"
        except NonFiniteError as err:  # raised by the loss before it could return a non-finite value
            log.warning("non-finite values in the model at step %d on %s (%s); skipping this batch",
                        self.state.batch_idx_train, self._describe(batch), err)
            return None, {}, "nonfinite"
        values = dict(zip(keys, stacked.tolist()))
        if not math.isfinite(values["loss"]):
            log.warning("non-finite loss %s at step %d on %s; skipping this batch",
                        values["loss"], self.state.batch_idx_train, self._describe(batch))
            return None, values, "nonfinite"
        return out["loss"], values, ""

    def _skip(self, failures: torch.Tensor) -> None:
        """Count a batch skipped on every rank; ``failures`` = number of ranks with [nonfinite, oom].

        Raises :class:`TrainingStopped` (exit status 3) after ``train.max_consecutive_skips`` skips in a row."""
        self.optimizer.zero_grad(set_to_none=True)
        if failures[0] > 0:
            self.state.num_skipped_nonfinite += 1
        else:
            self.state.num_skipped_oom += 1
        self.state.consecutive_skipped += 1
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        limit = self.config.train.max_consecutive_skips
        if limit > 0 and self.state.consecutive_skipped >= limit:
            newest = [p.name for kind in ("step", "epoch") for p in find_checkpoints(self.exp_dir, kind)[-1:]]
            kept = f"its checkpoints are kept (newest: {', '.join(newest)})" if newest else "it has no checkpoint yet"
            message = (
                f"training stopped at step {self.state.batch_idx_train}: the last {self.state.consecutive_skipped} "
                f"batches were all skipped (train.max_consecutive_skips={limit}; in this run "
                f"{self.state.num_skipped_nonfinite} had non-finite values, {self.state.num_skipped_oom} ran out of "
                "CUDA memory; the warnings above name their cuts). The model has diverged or the data is broken; the "
                f"weights are those of the last good step and in {self.exp_dir} {kept}. Resume from a checkpoint with "
                "--resume and a lower optim.base_lr (or train.amp=bf16 instead of fp16), lower data.max_duration "
                "for out-of-memory batches, or remove the cuts named above"
            )
            log.error("%s", message)
            raise TrainingStopped(message, exit_status=EXIT_DIVERGED)

    def train_step(self, batch: Any) -> dict[str, float] | None:
        """Forward, backward and one optimizer step; returns the model's outputs as floats, None if skipped."""
        self._set_schedule_position()
        batch = batch.to(self.device)
        loss, values, failure = self._forward(batch)
        failures = torch.tensor([failure == "nonfinite", failure == "oom"], dtype=torch.int64, device=self.device)
        failures = all_reduce_sum(failures).cpu()
        if failures.sum() > 0:
            self._skip(failures)
            return None
        try:
            self.scaler.scale(loss).backward()
        except torch.cuda.OutOfMemoryError:
            log.error("CUDA out of memory in the backward pass at step %d on %s",
                      self.state.batch_idx_train, self._describe(batch))
            if self.dist.is_distributed:
                raise
            self._skip(torch.tensor([0, 1]))
            return None
        self.scheduler.step_batch(self.state.batch_idx_train)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self._maybe_grow_grad_scale()
        self.state.consecutive_skipped = 0
        return values

    def _maybe_grow_grad_scale(self) -> None:
        """fp16 only, as icefall: let a small grad scale grow back; stop if it collapses."""
        if not self.amp.use_grad_scaler or self.state.batch_idx_train % 100 != 0:
            return
        scale = self.scaler.get_scale()
        if scale < 8.0 or (scale < 32.0 and self.state.batch_idx_train % 400 == 0):
            self.scaler.update(scale * 2.0)
        if scale < 1.0e-5:
            raise RuntimeError(
                f"fp16 grad scale fell to {scale:.2e} at step {self.state.batch_idx_train}: training diverged; "
                "resume from an earlier checkpoint with train.amp=bf16 (or none) or a lower optim.base_lr"
            )
        if scale < 0.01:
            log.warning("fp16 grad scale is small: %.2e", scale)

    # ---------------------------------------------------------------------------------------- validation

    def validate(self) -> float:
        """Validation loss per frame over all ranks (every term logged and in TensorBoard); nan without data.

        A batch with non-finite values (:class:`NonFiniteError`) is left out of the logged terms and counted
        (``valid/skipped_nonfinite``); the returned loss is then nan, so that validation is never the best."""
        if self.valid_loader is None:
            return math.nan
        self.raw_model.eval()
        tracker = LossTracker()
        with torch.no_grad(), self._fork_rng(), self._autocast():
            for batch in self.valid_loader:
                try:
                    out = self.raw_model(*self.model_inputs(batch.to(self.device)))
                except NonFiniteError as err:
                    log.warning("validation at step %d: non-finite values on %s (%s); batch left out",
                                self.state.batch_idx_train, self._describe(batch), err)
                    tracker.add({"skipped_nonfinite": 1.0})
                    continue
                tracker.add({k: float(v) for k, v in out.items()})
        self.raw_model.train()
        merged = LossTracker()
        for sums in all_gather_objects(tracker.sums):
            merged.add(sums)
        losses = merged.per_frame()
        loss = losses.get("loss", math.nan) if not losses.get("skipped_nonfinite") else math.nan
        if self.writer is not None:
            for key, value in losses.items():
                self.writer.add_scalar(f"valid/{key}", value, self.state.batch_idx_train)
        log.info("validation at step %d: %s", self.state.batch_idx_train, _format(losses))
        self._last_validation = (self.state.batch_idx_train, loss)
        if self.dist.is_main and self.config.train.valid_metrics_num_utts > 0:
            self._report_valid_metrics()
        return loss

    def _report_valid_metrics(self) -> None:
        """Greedy WER / BLEU and example pairs on the fixed subset, in the log and TensorBoard (rank 0)."""
        if not supports_metrics(self.raw_model) or not any(self.tokenizers.get(t) for t in self.raw_model.heads):
            return
        cfg = self.config
        blank_penalties = {"asr": cfg.decode.blank_penalty_asr, "st": cfg.decode.blank_penalty_st}
        step = self.state.batch_idx_train
        self.raw_model.eval()
        with self._fork_rng(), self._autocast():
            if self._metric_subset is None:
                self._metric_subset = take_subset(self.valid_loader, cfg.train.valid_metrics_num_utts)
            metrics = compute_valid_metrics(self.raw_model, self._metric_subset, self.tokenizers, self.device,
                                            cfg.train.valid_metrics_unit, blank_penalties,
                                            cfg.decode.max_sym_per_frame)
        self.raw_model.train()
        name = "wer" if metrics.unit == "word" else "cer"
        parts = []
        if metrics.wer is not None:
            parts.append(f"greedy {name.upper()} {metrics.wer:.2f}")
        if metrics.bleu is not None:
            parts.append(f"greedy BLEU {metrics.bleu:.2f} ({metrics.bleu_signature})")
        log.info("validation at step %d on the first %d utterances: %s", step, metrics.num_utterances,
                 ", ".join(parts))
        if self.writer is None:
            return
        if metrics.wer is not None:
            self.writer.add_scalar(f"valid/{name}", metrics.wer, step)
        if metrics.bleu is not None:
            self.writer.add_scalar("valid/bleu", metrics.bleu, step)
            if not self._bleu_signature_logged:
                self.writer.add_text("valid/bleu_signature", metrics.bleu_signature, step)
                self._bleu_signature_logged = True
        for task, pairs in metrics.examples.items():
            self.writer.add_text(f"valid/examples_{task}", examples_markdown(pairs), step)

    # ---------------------------------------------------------------------------------------- logging

    def _log_train(self, tracker: LossTracker, seconds: float, bar: tqdm) -> None:
        values = tracker.per_frame()
        audio = values.pop("audio_seconds", 0.0)
        frames = tracker.sums.get("frames", 0.0)
        extra = {
            "lr": self.scheduler.get_last_lr()[0],
            "grad_norm": self.optimizer.last_grad_norm if self.optimizer.last_grad_norm is not None else math.nan,
            "clipping_scale": self.optimizer.last_clipping_scale,
            "grad_scale": self.scaler.get_scale() if self.scaler.is_enabled() else 1.0,
            "frames_per_s": frames / seconds if seconds > 0 else math.nan,
            "audio_s_per_s": audio / seconds if seconds > 0 else math.nan,
            "skipped_nonfinite": float(self.state.num_skipped_nonfinite),
            "skipped_oom": float(self.state.num_skipped_oom),
        }
        step = self.state.batch_idx_train
        if self.writer is not None:
            for key, value in {**values, **extra}.items():
                self.writer.add_scalar(f"train/{key}", value, step)
        bar.set_postfix(loss=f"{values.get('loss', math.nan):.4f}", audio_s_per_s=f"{extra['audio_s_per_s']:.1f}")
        if self.dist.is_main:
            log.info("epoch %d step %d: %s, lr %.3e, grad norm %.3g, %.1f s audio/s", self.state.epoch, step,
                     _format({k: v for k, v in values.items() if k not in COUNT_KEYS}),
                     extra["lr"], extra["grad_norm"], extra["audio_s_per_s"])


def _format(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in values.items())


# --------------------------------------------------------------------------------------------------------
# the real model and data, and the command


def _require_path(field: str, value: str) -> Path:
    if not value:
        raise ValueError(f"{field} is empty; set it in the config or with --set {field}=PATH")
    path = Path(value)
    if not path.exists():
        raise ValueError(f"{field}={value}: no such file; check the path (stage 1/2 of run.sh writes it)")
    return path


def hent_srt_inputs(batch: Any) -> tuple[Any, ...]:
    """The arguments of ``HentSrt.forward`` from a :class:`hent_srt.data.loader.Batch`: features, lengths and
    the token lists per task."""
    return batch.features, batch.feature_lens, {"asr": batch.src_tokens, "st": batch.tgt_tokens}


def _training_augmentation(config: Config) -> Any:
    """The ``hent_srt.data.augment.Augmentation`` of the training batches: noise mixing when ``data.musan_cuts``
    is set, SpecAugment when the data path applies it (no CR-CTC views); logs both choices."""
    from hent_srt.data.augment import Augmentation, NoiseMixer, data_spec_augment, load_noise_cuts, spec_augment

    d = config.data
    if not 0.0 <= d.musan_prob <= 1.0:
        raise ValueError(f"data.musan_prob={d.musan_prob}: must be a probability in [0, 1] (published: 0.5)")
    if len(d.musan_snr) != 2 or not d.musan_snr[0] <= d.musan_snr[1]:
        raise ValueError(f"data.musan_snr={list(d.musan_snr)}: must be [low, high] in dB (published: 10,20)")
    noise = None
    if d.musan_cuts:
        noise = NoiseMixer(load_noise_cuts(d.musan_cuts, d.on_the_fly_features), d.musan_prob, d.musan_snr)
        log.info("noise mixing on: p=%g, SNR %g-%g dB", d.musan_prob, d.musan_snr[0], d.musan_snr[1])
    masking = data_spec_augment(config)
    log.info("SpecAugment in the data path: %s", "on" if masking else
             "off (the model masks its CR-CTC views)" if d.spec_augment else "off (data.spec_augment=false)")
    return Augmentation(noise=noise, spec_augment=spec_augment(d.masking) if masking else None, seed=config.train.seed)


def build_components(config: Config, dist_info: DistInfo) -> Components:
    """The HENT-SRT model, tokenizers and this rank's training and validation loaders from ``config``.

    Nothing reads the corpus here: the manifests are checked against the record ``hent-srt features`` wrote
    beside them (a digest of the file, the size of every archive, the schema checks passed), and only one
    without such a record is validated, in one pass. The loaders stream the cuts; utterances that do not fit the
    model are excluded where batches are made. Training batches get noise mixed in (``data.musan_cuts``) and
    SpecAugment when the model makes no CR-CTC views; validation batches get neither.
    """
    from hent_srt.data.augment import Augmentation
    from hent_srt.data.features import check_feature_manifest
    from hent_srt.data.loader import filter_cuts, make_dataloader
    from hent_srt.data.manifest import read_cuts
    from hent_srt.data.tokenizer import Tokenizer
    from hent_srt.model.hent import build_model

    d, m = config.data, config.model
    train_path = _require_path("data.train_cuts", d.train_cuts)
    valid_path = _require_path("data.valid_cuts", d.valid_cuts) if d.valid_cuts else None
    src_tok = Tokenizer(_require_path("data.src_bpe_model", d.src_bpe_model))
    tgt_tok = Tokenizer(_require_path("data.tgt_bpe_model", d.tgt_bpe_model)) if "st" in m.tasks else None
    for field, tok, size in (("asr", src_tok, m.asr_vocab_size), ("st", tgt_tok, m.st_vocab_size)):
        if tok is not None and tok.vocab_size != size:
            raise ValueError(f"model.{field}_vocab_size={size} but the BPE model has {tok.vocab_size} pieces; "
                             f"set --set model.{field}_vocab_size={tok.vocab_size}")
    if d.bucket_buffer_size < 1:
        raise ValueError(f"data.bucket_buffer_size={d.bucket_buffer_size}: must be >= 1 cut")
    for name, path in (("data.train_cuts", train_path), ("data.valid_cuts", valid_path)):
        if path is not None:
            check_feature_manifest(path, name, require_translation=tgt_tok is not None,
                                   require_features=not d.on_the_fly_features)
    augmentation = _training_augmentation(config)
    model = build_model(m, config.loss, d.masking)

    def loader(cuts_path: Path, shuffle: bool, augment: Augmentation | None) -> Any:
        cuts = filter_cuts(read_cuts(cuts_path), d.min_utterance_duration, d.max_utterance_duration)
        return make_dataloader(
            cuts, src_tok, tgt_tok, max_duration=d.max_duration, shuffle=shuffle, num_buckets=d.num_buckets,
            rank=dist_info.rank, world_size=dist_info.world_size, seed=config.train.seed,
            on_the_fly=d.on_the_fly_features, num_workers=d.num_workers, fits=model.check_lengths,
            augmentation=augment, buffer_size=d.bucket_buffer_size,
        )

    valid = loader(valid_path, False, None) if valid_path is not None else None
    return Components(model=model, train_loader=loader(train_path, d.shuffle, augmentation), valid_loader=valid,
                      model_inputs=hent_srt_inputs, tokenizers={"asr": src_tok, "st": tgt_tok})


def prepare_trainer(
    config: Config,
    exp_dir: str | Path,
    dist_info: DistInfo,
    device: torch.device,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    command_line: Sequence[str] = (),
    build: Callable[[Config, DistInfo], Components] = build_components,
    show_progress: bool = True,
    init_allow_partial: bool = False,
) -> Trainer:
    """Check ``exp_dir``, write ``config.yaml``/``env.json``, build the parts, and resume or initialise.

    Raises ValueError (with the fix) for problems the user can solve: an experiment directory that already
    holds checkpoints without ``resume``, missing files, bad settings.
    """
    exp_dir = Path(exp_dir)
    has_checkpoints = bool(find_checkpoints(exp_dir, "epoch") or find_checkpoints(exp_dir, "step"))
    if has_checkpoints and not resume:
        raise ValueError(f"--exp-dir {exp_dir} already holds checkpoints; pass --resume to continue that run "
                         "or choose another --exp-dir")
    _check_train_config(config)
    fix_random_seed(config.train.seed)
    parts = build(config, dist_info)
    set_cpu_threads(config.train.num_threads)
    trainer = Trainer(config, parts.model, parts.train_loader, parts.valid_loader, exp_dir,
                      dist_info=dist_info, device=device, show_progress=show_progress,
                      model_inputs=parts.model_inputs, tokenizers=parts.tokenizers)
    path, ckpt = latest_checkpoint(exp_dir) if resume else (None, None)
    if ckpt is not None:
        trainer.load_state(ckpt, source=str(path))
        if init_from is not None:
            log.info("--init-from %s ignored: resuming from %s", init_from, path)
    else:
        if resume:
            log.warning("--resume: no checkpoint in %s, starting from the beginning", exp_dir)
        if init_from is not None:
            trainer.init_from(init_from, allow_partial=init_allow_partial)
    if dist_info.is_main:
        write_experiment_info(exp_dir, config, command_line, world_size=dist_info.world_size,
                              extra={"resumed_from": str(path) if path else None,
                                     "init_from": str(init_from) if init_from else None})
    barrier()
    return trainer


def run_training(
    config: Config,
    exp_dir: str | Path,
    *,
    resume: bool = False,
    init_from: str | Path | None = None,
    command_line: Sequence[str] = (),
    build: Callable[[Config, DistInfo], Components] = build_components,
    show_progress: bool = True,
) -> Trainer:
    """Join the process group (torchrun environment), prepare a :class:`Trainer`, train, leave the group."""
    dist_info = dist_info_from_env()
    device = select_device(dist_info)
    setup_distributed(dist_info, device)
    try:
        trainer = prepare_trainer(config, exp_dir, dist_info, device, resume=resume, init_from=init_from,
                                  command_line=command_line, build=build, show_progress=show_progress)
        trainer.fit()
        return trainer
    finally:
        cleanup_distributed()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``hent-srt train``."""
    parser.add_argument("--config", required=True, help="YAML config (a recipes/ preset name or a path)")
    parser.add_argument("--exp-dir", required=True, help="experiment directory (checkpoints, logs, tensorboard)")
    parser.add_argument("--init-from", default=None, metavar="CKPT",
                        help="initialise the model weights from this checkpoint (e.g. the ASR pre-training)")
    parser.add_argument("--init-allow-partial", action="store_true",
                        help="with --init-from: load what fits even if the encoders do not load completely")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in --exp-dir (exactly where it stopped)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override, e.g. --set train.max_steps=100 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")


@contextlib.contextmanager
def _logging_to(exp_dir: Path, dist_info: DistInfo) -> Iterator[None]:
    """Log to stderr (rank 0: INFO, others: WARNING) and, on rank 0, to ``exp_dir/train.log``."""
    formatter = logging.Formatter(f"%(asctime)s [rank {dist_info.rank}] %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if dist_info.is_main:
        exp_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(exp_dir / "train.log"))
    package = logging.getLogger("hent_srt")
    old_level = package.level
    package.setLevel(logging.INFO if dist_info.is_main else logging.WARNING)
    for handler in handlers:
        handler.setFormatter(formatter)
        package.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            package.removeHandler(handler)
            handler.close()
        package.setLevel(old_level)


def main(args: argparse.Namespace) -> int:
    """Run ``hent-srt train``; 2 (with one message on stderr) for a problem the user can fix."""
    exp_dir = Path(args.exp_dir)
    try:
        dist_info = dist_info_from_env()
        device = select_device(dist_info)
        config = load_config(args.config, args.overrides)
        _check_exp_dir(exp_dir)
    except ValueError as err:
        print(f"hent-srt train: {err}", file=sys.stderr)
        return 2
    # one run per experiment directory: rank 0 holds its lock (the other ranks of a run do not write there)
    with DirectoryLock(exp_dir) if dist_info.is_main else contextlib.nullcontext():
        return _train(args, config, exp_dir, dist_info, device)


def _check_exp_dir(exp_dir: Path) -> None:
    """A UserError naming ``--exp-dir`` when it, or one of the directories above it, is a file."""
    for path in (exp_dir, *exp_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "" if path == exp_dir else f" ({path} is a file, so {exp_dir} cannot be created)"
                raise ValueError(f"--exp-dir {exp_dir}: not a directory{where}; choose another --exp-dir")
            return


def _train(args: argparse.Namespace, config: Config, exp_dir: Path, dist_info: DistInfo, device: torch.device) -> int:
    """The rest of :func:`main`, with the experiment directory locked."""
    with _logging_to(exp_dir, dist_info):
        try:
            setup_distributed(dist_info, device)
            trainer = prepare_trainer(config, exp_dir, dist_info, device, resume=args.resume,
                                      init_from=args.init_from, command_line=sys.argv,
                                      show_progress=not args.no_progress,
                                      init_allow_partial=args.init_allow_partial)
        except (ValueError, FileNotFoundError) as err:
            print(f"hent-srt train: {err}", file=sys.stderr)
            cleanup_distributed()
            return 2
        try:
            trainer.fit()
        except TrainingStopped as err:
            print(f"hent-srt train: {err}", file=sys.stderr)
            return err.exit_status
        finally:
            cleanup_distributed()
    return 0
