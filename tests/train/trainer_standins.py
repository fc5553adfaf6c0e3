"""Tiny stand-ins for the trainer tests: a model following the loss protocol and a resumable loader.

The model is a 2-layer regression over mean-pooled features with dropout; its loss (summed over utterances)
also draws from python's and numpy's random generators, so a resume that forgot any random state would
diverge. The loader shards a fixed set of utterances by rank and shuffles with seed + epoch; its state is
(epoch, batches already drawn); it runs through a torch DataLoader so creating its iterator consumes the
global torch generator, as real loaders do.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hent_srt.config import Config, EncoderConfig, LossConfig, ModelConfig, config_from_dict
from hent_srt.data.loader import Batch
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.loss import NonFiniteError
from hent_srt.model.hent import HentSrt, build_model
from hent_srt.train.distributed import DistInfo
from hent_srt.train.trainer import Components, run_training
from hent_srt.train.valid_metrics import NUM_EXAMPLES

FEATURE_DIM = 8


@dataclass
class TinyBatch:
    """features (B, T, F), feature_lens (B,) int64, src_tokens, cut_ids."""

    features: torch.Tensor
    feature_lens: torch.Tensor
    src_tokens: list[list[int]]
    cut_ids: list[str]

    def to(self, device: torch.device | str) -> TinyBatch:
        return TinyBatch(
            self.features.to(device), self.feature_lens.to(device), self.src_tokens, self.cut_ids
        )


def make_utterances(n: int, seed: int = 0) -> list[tuple[str, torch.Tensor, list[int]]]:
    """``n`` (cut id, features (T, F), tokens) with T in [10, 29] and 1..5 tokens."""
    g = torch.Generator().manual_seed(seed)
    utts = []
    for i in range(n):
        frames = int(torch.randint(10, 30, (1,), generator=g))
        feats = torch.randn(frames, FEATURE_DIM, generator=g)
        tokens = list(range(1, 2 + i % 5))
        utts.append((f"utt-{i}", feats, tokens))
    return utts


def collate(utts: list[tuple[str, torch.Tensor, list[int]]]) -> TinyBatch:
    lens = torch.tensor([u[1].shape[0] for u in utts], dtype=torch.int64)
    feats = torch.zeros(len(utts), int(lens.max()), FEATURE_DIM)
    for b, (_, f, _) in enumerate(utts):
        feats[b, : f.shape[0]] = f
    return TinyBatch(feats, lens, [u[2] for u in utts], [u[0] for u in utts])


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, utts: list) -> None:
        self.utts = utts

    def __getitem__(self, indices: list[int]) -> TinyBatch:
        return collate([self.utts[i] for i in indices])


class _Sampler(torch.utils.data.Sampler):
    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, rank: int, world_size: int) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.position = 0
        self.restored = False

    def batches(self) -> list[list[int]]:
        order = list(range(self.n))
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(order)
        share = order[self.rank :: self.world_size][: self.n // self.world_size]
        return [share[i : i + self.batch_size] for i in range(0, len(share), self.batch_size)]

    def __iter__(self):
        if not self.restored:
            self.position = 0
        self.restored = False
        batches = self.batches()
        while self.position < len(batches):
            self.position += 1
            yield batches[self.position - 1]


class TinyLoader:
    """Follows the trainer's TrainLoader protocol (iter, set_epoch, state_dict, load_state_dict)."""

    def __init__(
        self, utts: list, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        self.sampler = _Sampler(len(utts), batch_size, shuffle, seed, rank, world_size)
        self.loader = torch.utils.data.DataLoader(_Dataset(utts), sampler=self.sampler, batch_size=None)

    def __iter__(self):
        return iter(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.epoch = epoch
        self.sampler.position = 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.sampler.epoch, "position": self.sampler.position, "rank": self.sampler.rank}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.epoch = state["epoch"]
        self.sampler.position = state["position"]
        self.sampler.restored = True


class TinyModel(nn.Module):
    """loss = sum_b (1 + u_py/100 + u_np/100) * (MLP(mean_t x_bt) - num_tokens_b)^2 with dropout in the MLP.

    A batch holding a cut id of ``nan_cut_ids`` gives a NaN loss; one of ``oom_cut_ids`` raises CUDA OOM; at
    training step n, a batch with cut c for (n, c) in ``error_at`` raises ``NonFiniteError`` as the losses do for
    NaN inputs, and from step ``nan_from_step`` on (0: never) every loss is NaN (a diverged model).
    ``seen_batch_counts`` and ``seen_train_steps`` record ``batch_count`` and ``train_step`` at every training
    forward.
    """

    def __init__(self, nan_cut_ids: tuple[str, ...] = (), oom_cut_ids: tuple[str, ...] = (),
                 error_at: tuple[tuple[int, str], ...] = (), nan_from_step: int = 0) -> None:
        super().__init__()
        self.hidden = nn.Linear(FEATURE_DIM, 6)
        self.dropout = nn.Dropout(0.3)
        self.out = nn.Linear(6, 1)
        self.nan_cut_ids = set(nan_cut_ids)
        self.oom_cut_ids = set(oom_cut_ids)
        self.error_at = set(error_at)
        self.nan_from_step = nan_from_step
        self.batch_count = 0.0
        self.train_step = 0
        self.seen_batch_counts: list[float] = []
        self.seen_train_steps: list[int] = []

    def forward(self, batch: TinyBatch) -> dict[str, torch.Tensor]:
        if self.training:
            self.seen_batch_counts.append(self.batch_count)
            self.seen_train_steps.append(self.train_step)
            if self.oom_cut_ids & set(batch.cut_ids):
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            if any((self.train_step, cut) in self.error_at for cut in batch.cut_ids):
                raise NonFiniteError("am contains NaN or inf (simulated)")
        lens = batch.feature_lens
        mask = torch.arange(batch.features.shape[1])[None, :] < lens[:, None]
        pooled = (batch.features * mask[..., None]).sum(1) / lens[:, None]
        pred = self.out(self.dropout(torch.tanh(self.hidden(pooled)))).squeeze(-1)
        target = torch.tensor([float(len(t)) for t in batch.src_tokens])
        weight = 1.0
        if self.training:
            weight += random.random() / 100 + float(np.random.rand()) / 100
        loss = (weight * (pred - target) ** 2).sum()
        diverged = self.training and 0 < self.nan_from_step <= self.train_step
        if self.nan_cut_ids & set(batch.cut_ids) or diverged:
            loss = loss * float("nan")
        return {
            "loss": loss,
            "mse": ((pred - target) ** 2).sum().detach(),
            "frames": lens.sum().to(torch.float32),
            "utterances": torch.tensor(float(len(lens))),
        }


@dataclass
class TinyBuild:
    """``build(config, dist_info) -> Components`` for ``run_training`` (picklable, for spawned workers)."""

    n_train: int = 6
    n_valid: int = 2
    batch_size: int = 2
    shuffle: bool = True
    nan_cut_ids: tuple[str, ...] = ()
    oom_cut_ids: tuple[str, ...] = ()
    error_at: tuple[tuple[int, str], ...] = ()
    nan_from_step: int = 0
    models: list = field(default_factory=list)

    def __call__(self, config: Config, dist_info: DistInfo) -> Components:
        model = TinyModel(self.nan_cut_ids, self.oom_cut_ids, self.error_at, self.nan_from_step)
        self.models.append(model)
        train = TinyLoader(
            make_utterances(self.n_train),
            self.batch_size,
            self.shuffle,
            config.train.seed,
            dist_info.rank,
            dist_info.world_size,
        )
        valid = None
        if self.n_valid:
            valid = TinyLoader(
                make_utterances(self.n_valid, seed=1),
                self.batch_size,
                False,
                rank=dist_info.rank,
                world_size=dist_info.world_size,
            )
        return Components(model=model, train_loader=train, valid_loader=valid)


def tiny_config(**train: Any) -> Config:
    """A config for the stand-ins: 2 s batches, logging and averaging every step, no checkpoints by step."""
    settings = {
        "num_epochs": 3,
        "seed": 7,
        "average_period": 1,
        "log_interval": 1,
        "valid_interval": 1000,
        "save_every_n": 1000,
        "keep_last_k": 3,
        **train,
    }
    return config_from_dict(
        {
            "optim": {"base_lr": 0.05, "lr_batches": 100.0, "lr_epochs": 2.0, "warmup_batches": 2.0},
            "data": {"max_duration": 2.0},
            "train": settings,
        }
    )


def ddp_worker(rank: int, world_size: int, port: int, exp_dir: str, out_dir: str, build: TinyBuild,
               config: Config) -> None:
    """One rank of a CPU (gloo) DDP run through ``run_training``; saves its weights and counters."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainer = run_training(config, exp_dir, build=build, show_progress=False)
    torch.save({"model": trainer.raw_model.state_dict(), "state": dataclasses.asdict(trainer.state),
                "seen_batch_counts": trainer.raw_model.seen_batch_counts,
                "seen_train_steps": trainer.raw_model.seen_train_steps}, f"{out_dir}/rank{rank}.pt")


def micro_hent_srt(warm_step: int = 6) -> HentSrt:
    """A real ASR-only HentSrt of about 40 k parameters (no CTC, no CR-CTC views): 10 tokens, 80-dim features."""
    enc = EncoderConfig(
        num_encoder_layers=(1, 1), downsampling_factor=(1, 2), encoder_dim=(32, 32), encoder_unmasked_dim=(32, 32),
        num_heads=(2, 2), feedforward_dim=(48, 48), cnn_module_kernel=(7, 7), query_head_dim=8, value_head_dim=4,
        pos_head_dim=4, pos_dim=8, output_downsampling_factor=2,
    )
    cfg = ModelConfig(tasks=("asr",), subsampling_channels=(4, 8, 16), asr_encoder=enc, decoder_dim=16,
                      joiner_dim=16, asr_vocab_size=10, use_ctc=False)
    return build_model(cfg, LossConfig(prune_range_asr=3, warm_step=warm_step, use_cr_ctc=False))


def hent_batch(seed: int) -> Batch:
    """Two utterances of random features (120 and 100 frames) with 3 and 2 tokens, for :func:`micro_hent_srt`."""
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.randn(2, 120, 80, generator=g), torch.tensor([120, 100]), [[1, 2, 3], [4, 5]], [[], []],
                 ["", ""], ["", ""], [f"b{seed}-0", f"b{seed}-1"])


def micro_run_config(corpus: dict[str, Path], **train: Any) -> Config:
    """A full training config of a micro hierarchical HENT-SRT (ASR + ST, about 96 k parameters, no CR-CTC) on
    the ``micro_corpus`` fixture (paths "cuts", "src", "tgt"), with on-the-fly features; ``train`` overrides
    the train section."""
    enc = {"num_encoder_layers": [1, 1], "downsampling_factor": [1, 2], "encoder_dim": [32, 32],
           "encoder_unmasked_dim": [32, 32], "num_heads": [2, 2], "feedforward_dim": [48, 48],
           "cnn_module_kernel": [7, 7], "query_head_dim": 8, "value_head_dim": 4, "pos_head_dim": 4, "pos_dim": 8}
    return config_from_dict({
        "model": {"subsampling_channels": [4, 8, 16], "asr_encoder": {**enc, "output_downsampling_factor": 2},
                  "st_encoder": {**enc, "num_encoder_layers": [1], "downsampling_factor": [1], "encoder_dim": [32],
                                 "encoder_unmasked_dim": [32], "num_heads": [2], "feedforward_dim": [48],
                                 "cnn_module_kernel": [7], "output_downsampling_factor": 1},
                  "decoder_dim": 16, "joiner_dim": 16,
                  "asr_vocab_size": Tokenizer(corpus["src"]).vocab_size,
                  "st_vocab_size": Tokenizer(corpus["tgt"]).vocab_size},
        "loss": {"prune_range_asr": 3, "prune_range_st": 3, "warm_step": 4, "use_cr_ctc": False},
        "optim": {"base_lr": 0.05, "lr_batches": 100.0, "lr_epochs": 2.0, "warmup_batches": 2.0},
        # 1 s batches of 0.5-0.95 s cuts: one utterance per batch, so the subset decodes without padding
        "data": {"train_cuts": str(corpus["cuts"]), "valid_cuts": str(corpus["cuts"]),
                 "src_bpe_model": str(corpus["src"]), "tgt_bpe_model": str(corpus["tgt"]), "max_duration": 1.0,
                 "num_buckets": 2, "on_the_fly_features": True, "num_workers": 0},
        # 7 cuts are kept (one step each): validation after step 4 and at the end of the epoch (step 7)
        "train": {"num_epochs": 1, "seed": 3, "valid_interval": 4, "save_every_n": 1000, "log_interval": 5,
                  "valid_metrics_num_utts": NUM_EXAMPLES, **train},
        # blank penalties large enough for the barely trained model to emit tokens
        "decode": {"blank_penalty_asr": 4.0, "blank_penalty_st": 3.0, "max_sym_per_frame": 2},
    })
