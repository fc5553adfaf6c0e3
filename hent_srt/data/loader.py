"""Batches for training and decoding: a Dataset over lhotse cuts, a bucketing sampler and filters, all lazy.

A batch holds fbank features ``(B, T, 80)`` (precomputed by ``hent-srt features`` or computed on the fly),
their lengths ``(B,)``, the source and target token ids and texts, and the cut ids, sorted by decreasing
length. Batches come from lhotse's ``DynamicBucketingSampler`` (total duration per batch at most
``max_duration`` seconds; DDP rank and world size passed explicitly). ``ResumableLoader.state_dict()``
captures the sampler state after the last batch handed out, so a resumed run yields exactly the next one,
even with worker processes prefetching ahead.

Nothing walks the corpus before the first batch: cuts stream from the manifest (``read_cuts``) through the
duration filter into the sampler, which holds ``buffer_size`` cuts and estimates its duration buckets from the
first 10,000. Tokens are computed where a batch is made (in the Dataset, in the worker processes), and there
utterances that do not fit the model (``fits``, e.g. more tokens than encoder frames) are excluded, counted
and logged; a batch left empty is skipped (the sampler state still advances past it).
"""

from __future__ import annotations

import copy
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from types import SimpleNamespace
from typing import Any

import torch
from lhotse import CutSet, Fbank, FbankConfig
from lhotse.cut import Cut
from lhotse.dataset import DynamicBucketingSampler, SimpleCutSampler
from lhotse.dataset.input_strategies import OnTheFlyFeatures, PrecomputedFeatures
from lhotse.dataset.sampling.dynamic_bucketing import estimate_duration_buckets

from hent_srt.data.augment import Augmentation
from hent_srt.data.features import FBANK_DIM, FBANK_SAMPLING_RATE
from hent_srt.data.schema import source_text, target_text
from hent_srt.data.tokenizer import Tokenizer

__all__ = ["Batch", "HentSrtDataset", "ResumableLoader", "filter_cuts", "make_dataloader"]

log = logging.getLogger(__name__)

FRAME_SHIFT_S = 0.01
NUM_CUTS_FOR_BINS = 10000  # cuts read to estimate the duration buckets (lhotse's default)
_MAX_LOGGED = 20  # excluded cuts logged one by one per pass over the data

FitsFn = Callable[[int, dict[str, int]], "str | None"]


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
        excluded: cut id -> reason, for the cuts of the sampled batch left out because they do not fit the
            model (not part of the batch's rows).
    """

    features: torch.Tensor
    feature_lens: torch.Tensor
    src_tokens: list[list[int]]
    tgt_tokens: list[list[int]]
    src_text: list[str]
    tgt_text: list[str]
    cut_ids: list[str]
    excluded: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cut_ids)

    def to(self, device: torch.device | str) -> Batch:
        """A copy with ``features`` and ``feature_lens`` on ``device``."""
        return replace(self, features=self.features.to(device), feature_lens=self.feature_lens.to(device))


class HentSrtDataset(torch.utils.data.Dataset):
    """Maps a ``CutSet`` (one sampler batch) to a ``Batch``.

    With ``on_the_fly`` the fbank is computed from the audio (16 kHz); otherwise every cut must carry
    precomputed features. ``tgt_tok=None`` leaves the target fields empty (ASR-only training). ``fits(frames,
    {"asr": n, "st": m})`` returns None for an utterance the model can train on, else the reason to exclude it
    (``HentSrt.check_lengths``). ``augmentation`` mixes noise into the cuts and masks the features (training
    only); ``epoch`` (set by the loader) seeds it.
    """

    def __init__(
        self,
        src_tok: Tokenizer,
        tgt_tok: Tokenizer | None = None,
        on_the_fly: bool = False,
        lang: str = "en",
        fits: FitsFn | None = None,
        augmentation: Augmentation | None = None,
    ) -> None:
        self.src_tok = src_tok
        self.tgt_tok = tgt_tok
        self.on_the_fly = on_the_fly
        self.lang = lang
        self.fits = fits
        self.augmentation = augmentation
        self.epoch = 0
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

    def _excluded(self, cuts: list[Cut], src_tokens: list[list[int]], tgt_tokens: list[list[int]]) -> dict[str, str]:
        if self.fits is None:
            return {}
        excluded = {}
        for cut, src, tgt in zip(cuts, src_tokens, tgt_tokens):
            frames = cut.num_frames if cut.has_features else round(cut.duration / FRAME_SHIFT_S)
            tokens = {"asr": len(src), "st": len(tgt)} if self.tgt_tok is not None else {"asr": len(src)}
            reason = self.fits(frames, tokens)
            if reason is not None:
                excluded[cut.id] = reason
        return excluded

    def __getitem__(self, cuts: CutSet) -> Batch:
        cuts = cuts.sort_by_duration(ascending=False)
        self._check(cuts)
        rows = list(cuts)
        src_text = [source_text(c) for c in rows]
        src_tokens = self.src_tok.encode(src_text)
        if self.tgt_tok is not None:
            tgt_text = [target_text(c, self.lang) for c in rows]
            tgt_tokens = self.tgt_tok.encode(tgt_text)
        else:
            tgt_text = ["" for _ in rows]
            tgt_tokens = [[] for _ in rows]
        excluded = self._excluded(rows, src_tokens, tgt_tokens)
        if excluded:
            keep = [i for i, c in enumerate(rows) if c.id not in excluded]
            rows = [rows[i] for i in keep]
            src_text, src_tokens = [src_text[i] for i in keep], [src_tokens[i] for i in keep]
            tgt_text, tgt_tokens = [tgt_text[i] for i in keep], [tgt_tokens[i] for i in keep]
            if not rows:
                return Batch(torch.zeros(0, 0, FBANK_DIM), torch.zeros(0, dtype=torch.int64), [], [], [], [], [],
                             excluded)
        cuts = CutSet.from_cuts(rows)
        if self.augmentation is not None:
            cuts = self.augmentation.mix(cuts, self.epoch)
        features, lens = self.inputs(cuts)
        features, lens = features.to(torch.float32), lens.to(torch.int64)
        cut_ids = [c.id for c in rows]
        if self.augmentation is not None:
            features = self.augmentation.mask(features, lens, cut_ids, self.epoch)
        return Batch(
            features=features,
            feature_lens=lens,
            src_tokens=src_tokens,
            tgt_tokens=tgt_tokens,
            src_text=src_text,
            tgt_text=tgt_text,
            cut_ids=cut_ids,
            excluded=excluded,
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
        num_excluded = 0
        for batch in self.dataloader:
            self._consumed = self._pending.popleft()
            for cut_id, reason in batch.excluded.items():
                num_excluded += 1
                if num_excluded <= _MAX_LOGGED:
                    log.warning("excluded cut %s, which does not fit the model: %s", cut_id, reason)
            if len(batch) > 0:
                yield batch
        if num_excluded:
            log.warning("excluded %d cut(s) in this pass over the data because they do not fit the model%s",
                        num_excluded, f" (the first {_MAX_LOGGED} are logged above)" if num_excluded > _MAX_LOGGED
                        else "")

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` (reshuffles with seed + epoch; augmentation draws with the epoch too)."""
        self.sampler.set_epoch(epoch)
        self.dataset.epoch = epoch
        self._consumed = None

    def state_dict(self) -> dict[str, Any]:
        """Sampler state after the last batch handed out (the epoch start if none was)."""
        state = self._consumed if self._consumed is not None else self.sampler.state_dict()
        return copy.deepcopy(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``: the next iteration continues with the batch after the saved one."""
        self.sampler.load_state_dict(copy.deepcopy(state))
        self.dataset.epoch = int(state.get("epoch", 0))
        self._consumed = copy.deepcopy(state)


def _durations(cuts: Iterable[Cut]) -> Iterator[float]:
    """The durations of ``cuts`` in order; without building cut objects when the lazy stream can give them."""
    source = cuts.data if isinstance(cuts, CutSet) and cuts.is_lazy else cuts
    if hasattr(source, "durations"):
        return source.durations()
    return (cut.duration for cut in cuts)


def _duration_bins(cuts: CutSet, num_buckets: int) -> list[float] | None:
    """Bucket boundaries from the first ``NUM_CUTS_FOR_BINS`` cuts (None when there are fewer than two cuts)."""
    head = [SimpleNamespace(duration=d) for d in islice(_durations(cuts), NUM_CUTS_FOR_BINS)]
    if len(head) < 2:
        return None
    return estimate_duration_buckets(head, num_buckets=min(num_buckets, len(head)))


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
    fits: FitsFn | None = None,
    augmentation: Augmentation | None = None,
    buffer_size: int = 20000,
) -> ResumableLoader:
    """Bucketed batches of at most ``max_duration`` seconds of audio from ``cuts`` (lazy or eager).

    The duration buckets are estimated from the first 10,000 cuts (their number is lowered to the number of
    cuts of a small set); with fewer than two cuts the batches come from lhotse's ``SimpleCutSampler``. The
    sampler holds ``buffer_size`` cuts: memory, and the reach of its shuffling.

    ``rank``/``world_size`` select this process's share for DDP; ``seed`` (+ the epoch) fixes the shuffle.
    With ``on_the_fly`` the fbank is computed from the audio (resampled to 16 kHz when needed). ``fits`` and
    ``augmentation``: see :class:`HentSrtDataset`.
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
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be >= 1 cut, got {buffer_size}.")
    if on_the_fly:
        cuts = cuts.resample(FBANK_SAMPLING_RATE)
    common = dict(max_duration=max_duration, shuffle=shuffle, drop_last=drop_last, world_size=world_size, rank=rank,
                  seed=seed)
    bins = _duration_bins(cuts, num_buckets)
    if bins is not None:
        sampler = DynamicBucketingSampler(cuts, duration_bins=bins, buffer_size=buffer_size, **common)
    else:
        sampler = SimpleCutSampler(cuts, **common)
    dataset = HentSrtDataset(src_tok, tgt_tok, on_the_fly=on_the_fly, lang=lang, fits=fits,
                             augmentation=augmentation)
    return ResumableLoader(dataset, sampler, num_workers=num_workers)


class _DurationFilter:
    """A re-iterable stream of the cuts of ``cuts`` within the duration range; the first full pass logs what it
    dropped (every pass drops the same)."""

    def __init__(self, cuts: Iterable[Cut], min_duration: float, max_duration: float) -> None:
        self.cuts = cuts
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.reported = False

    def durations(self) -> Iterator[float]:
        """The durations of the kept cuts, from the source's durations when it has them."""
        return (d for d in _durations(self.cuts) if self.min_duration <= d <= self.max_duration)

    def __iter__(self) -> Iterator[Cut]:
        kept = 0
        dropped: Counter = Counter()
        for cut in self.cuts:
            if cut.duration < self.min_duration:
                dropped[f"shorter than {self.min_duration} s"] += 1
            elif cut.duration > self.max_duration:
                dropped[f"longer than {self.max_duration} s"] += 1
            else:
                kept += 1
                yield cut
        if self.reported:
            return
        self.reported = True
        total = kept + sum(dropped.values())
        if dropped:
            reasons = ", ".join(f"{n} {why}" for why, n in dropped.items())
            log.warning("filter_cuts: kept %d of %d cuts; dropped %s", kept, total, reasons)
        else:
            log.info("filter_cuts: kept all %d cuts", total)


def filter_cuts(cuts: CutSet, min_duration: float = 0.2, max_duration: float = 30.0) -> CutSet:
    """The cuts with ``min_duration <= duration <= max_duration``, lazily: nothing is read until iterated.

    The first full pass logs how many cuts were dropped, by reason."""
    if not 0 <= min_duration < max_duration:
        raise ValueError(
            f"need 0 <= min_duration < max_duration, got min_duration={min_duration}, max_duration={max_duration}."
        )
    return CutSet(_DurationFilter(cuts, min_duration, max_duration))
