"""Batches for training and decoding: a Dataset over lhotse cuts, a bucketing sampler and filters.

A batch holds fbank features ``(B, T, 80)`` (precomputed by ``hent-srt features`` or computed on the fly),
their lengths ``(B,)``, the source and target token ids and texts, and the cut ids, sorted by decreasing
length. Batches come from lhotse's ``DynamicBucketingSampler`` (total duration per batch at most
``max_duration`` seconds; DDP rank and world size passed explicitly). ``ResumableLoader.state_dict()``
captures the sampler state after the last batch handed out, so a resumed run yields exactly the next one,
even with worker processes prefetching ahead.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch
from lhotse import CutSet, Fbank, FbankConfig
from lhotse.cut import Cut
from lhotse.dataset import DynamicBucketingSampler, SimpleCutSampler
from lhotse.dataset.input_strategies import OnTheFlyFeatures, PrecomputedFeatures

from hent_srt.data.features import FBANK_DIM, FBANK_SAMPLING_RATE
from hent_srt.data.schema import source_text, target_text
from hent_srt.data.tokenizer import Tokenizer

__all__ = ["Batch", "HentSrtDataset", "ResumableLoader", "filter_cuts", "make_dataloader"]

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """One mini-batch, sorted by decreasing ``feature_lens``.

    Attributes:
        features: ``(B, T, 80)`` float32 log-mel fbank; frames ``t < feature_lens[b]`` of row ``b`` are
            real, the rest padding (``T = max(feature_lens)``).
        feature_lens: ``(B,)`` int64 number of real frames per utterance.
        src_tokens: source (transcript) token ids per utterance.
        tgt_tokens: target (translation) token ids per utterance; empty lists without a target tokenizer.
        src_text: source transcripts.
        tgt_text: target translations; empty strings without a target tokenizer.
        cut_ids: lhotse cut ids.
    """

    features: torch.Tensor
    feature_lens: torch.Tensor
    src_tokens: list[list[int]]
    tgt_tokens: list[list[int]]
    src_text: list[str]
    tgt_text: list[str]
    cut_ids: list[str]

    def __len__(self) -> int:
        return len(self.cut_ids)

    def to(self, device: torch.device | str) -> Batch:
        """A copy with ``features`` and ``feature_lens`` on ``device``."""
        return replace(self, features=self.features.to(device), feature_lens=self.feature_lens.to(device))


class HentSrtDataset(torch.utils.data.Dataset):
    """Maps a ``CutSet`` (one sampler batch) to a ``Batch``.

    With ``on_the_fly`` the fbank is computed from the audio (16 kHz); otherwise every cut must carry
    precomputed features. ``tgt_tok=None`` leaves the target fields empty (ASR-only training).
    """

    def __init__(
        self, src_tok: Tokenizer, tgt_tok: Tokenizer | None = None, on_the_fly: bool = False, lang: str = "en"
    ) -> None:
        self.src_tok = src_tok
        self.tgt_tok = tgt_tok
        self.on_the_fly = on_the_fly
        self.lang = lang
        if on_the_fly:
            self.inputs = OnTheFlyFeatures(Fbank(FbankConfig(num_mel_bins=FBANK_DIM)))
        else:
            self.inputs = PrecomputedFeatures()

    def _check(self, cuts: CutSet) -> None:
        for cut in cuts:
            if self.on_the_fly:
                if not cut.has_recording:
                    raise ValueError(
                        f"cut {cut.id!r} has no audio; on-the-fly features need cuts with recordings."
                    )
                if cut.sampling_rate != FBANK_SAMPLING_RATE:
                    raise ValueError(
                        f"cut {cut.id!r} is at {cut.sampling_rate} Hz; on-the-fly fbank needs "
                        f"{FBANK_SAMPLING_RATE} Hz. Fix: resample the cuts (cuts.resample({FBANK_SAMPLING_RATE}))."
                    )
            elif not cut.has_features:
                raise ValueError(
                    f"cut {cut.id!r} has no precomputed features. Fix: run `hent-srt features` (stage 1) and "
                    "load its output manifest, or use on_the_fly=True."
                )

    def __getitem__(self, cuts: CutSet) -> Batch:
        cuts = cuts.sort_by_duration(ascending=False)
        self._check(cuts)
        features, lens = self.inputs(cuts)
        src_text = [source_text(c) for c in cuts]
        if self.tgt_tok is not None:
            tgt_text = [target_text(c, self.lang) for c in cuts]
            tgt_tokens = self.tgt_tok.encode(tgt_text)
        else:
            tgt_text = ["" for _ in cuts]
            tgt_tokens = [[] for _ in cuts]
        return Batch(
            features=features.to(torch.float32),
            feature_lens=lens.to(torch.int64),
            src_tokens=self.src_tok.encode(src_text),
            tgt_tokens=tgt_tokens,
            src_text=src_text,
            tgt_text=tgt_text,
            cut_ids=[c.id for c in cuts],
        )


class _StateRecordingSampler(torch.utils.data.Sampler):
    """Iterates ``inner`` and queues its state right after each batch it yields."""

    def __init__(self, inner: DynamicBucketingSampler, states: deque) -> None:
        self.inner = inner
        self.states = states

    def __iter__(self) -> Iterator[CutSet]:
        for cuts in self.inner:
            self.states.append(self.inner.state_dict())
            yield cuts


class ResumableLoader:
    """A DataLoader over ``Batch`` es whose ``state_dict`` reflects the batches handed out so far.

    The DataLoader draws sampler batches ahead of the consumer (worker prefetch); the sampler state
    recorded with each draw is released only when that batch reaches the consumer, so
    ``load_state_dict(state_dict())`` in a fresh loader continues with exactly the next batch.
    """

    def __init__(
        self, dataset: HentSrtDataset, sampler: DynamicBucketingSampler, num_workers: int = 0
    ) -> None:
        self.dataset = dataset
        self.sampler = sampler
        self._pending: deque = deque()
        self._consumed: dict[str, Any] | None = None
        self.dataloader = torch.utils.data.DataLoader(
            dataset,
            sampler=_StateRecordingSampler(sampler, self._pending),
            batch_size=None,
            num_workers=num_workers,
            persistent_workers=False,
        )

    def __iter__(self) -> Iterator[Batch]:
        self._pending.clear()
        for batch in self.dataloader:
            self._consumed = self._pending.popleft()
            yield batch

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` (reshuffles with seed + epoch)."""
        self.sampler.set_epoch(epoch)
        self._consumed = None

    def state_dict(self) -> dict[str, Any]:
        """Sampler state after the last batch handed out (the epoch start if none was)."""
        state = self._consumed if self._consumed is not None else self.sampler.state_dict()
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``: the next iteration continues with the batch after the saved one."""
        self.sampler.load_state_dict(copy.deepcopy(state))
        self._consumed = copy.deepcopy(state)


def make_dataloader(
    cuts: CutSet,
    src_tok: Tokenizer,
    tgt_tok: Tokenizer | None,
    max_duration: float,
    shuffle: bool,
    num_buckets: int = 10,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    on_the_fly: bool = False,
    num_workers: int = 0,
    drop_last: bool = False,
    lang: str = "en",
) -> ResumableLoader:
    """Bucketed batches of at most ``max_duration`` seconds of audio from ``cuts``.

    ``num_buckets`` is lowered to the number of cuts of a small eager CutSet; below two buckets the batches
    come from lhotse's ``SimpleCutSampler``.

    ``rank``/``world_size`` select this process's share for DDP; ``seed`` (+ the epoch) fixes the shuffle.
    With ``on_the_fly`` the fbank is computed from the audio (resampled to 16 kHz when needed).
    """
    if not max_duration > 0:
        raise ValueError(f"max_duration must be > 0 seconds, got {max_duration}.")
    if num_buckets < 2:
        raise ValueError(
            f"num_buckets must be >= 2 (lhotse's bucketing sampler needs two), got {num_buckets}."
        )
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"rank must be in [0, world_size) and world_size >= 1, got rank={rank}, world_size={world_size}."
        )
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}.")
    if on_the_fly:
        cuts = cuts.resample(FBANK_SAMPLING_RATE)
    if not cuts.is_lazy:
        num_buckets = min(num_buckets, len(cuts))  # lhotse needs at least one cut per bucket
    common = dict(max_duration=max_duration, shuffle=shuffle, drop_last=drop_last, world_size=world_size, rank=rank,
                  seed=seed)
    if num_buckets >= 2:
        sampler = DynamicBucketingSampler(cuts, num_buckets=num_buckets, **common)
    else:
        sampler = SimpleCutSampler(cuts, **common)
    dataset = HentSrtDataset(src_tok, tgt_tok, on_the_fly=on_the_fly, lang=lang)
    return ResumableLoader(dataset, sampler, num_workers=num_workers)


def filter_cuts(
    cuts: CutSet,
    min_duration: float = 0.2,
    max_duration: float = 30.0,
    keep_fn: Callable[[Cut], bool] | None = None,
) -> CutSet:
    """Keep the cuts with ``min_duration <= duration <= max_duration`` for which ``keep_fn(cut)`` holds.

    ``keep_fn`` is typically the model's check that an utterance has enough encoder frames for its
    tokens. Logs how many cuts were dropped, by reason.
    """
    if not 0 <= min_duration < max_duration:
        raise ValueError(
            f"need 0 <= min_duration < max_duration, got min_duration={min_duration}, max_duration={max_duration}."
        )
    kept: list[Cut] = []
    dropped: Counter = Counter()
    for cut in cuts:
        if cut.duration < min_duration:
            dropped[f"shorter than {min_duration} s"] += 1
        elif cut.duration > max_duration:
            dropped[f"longer than {max_duration} s"] += 1
        elif keep_fn is not None and not keep_fn(cut):
            dropped["rejected by keep_fn (too few frames for the tokens)"] += 1
        else:
            kept.append(cut)
    total = len(kept) + sum(dropped.values())
    if dropped:
        reasons = ", ".join(f"{n} {why}" for why, n in dropped.items())
        log.warning("filter_cuts: kept %d of %d cuts; dropped %s", len(kept), total, reasons)
    else:
        log.info("filter_cuts: kept all %d cuts", total)
    return CutSet.from_cuts(kept)
