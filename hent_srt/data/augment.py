"""Training-time data augmentation: MUSAN noise mixing (lhotse ``CutMix``) and SpecAugment in the data path.

Both follow the published recipe (icefall's zipformer ``asr_datamodule``):

- **Noise mixing.** With probability ``prob`` a cut gets noise (MUSAN noise and music windows) mixed in at an
  SNR drawn uniformly from ``snr`` = (10, 20) dB. With precomputed features the mix happens in the feature
  domain, as lhotse does: for log-mel fbank ``C`` (speech) and ``N`` (noise), both ``(T, 80)``,
  ``mixed = log(exp(C) + g exp(N))`` with ``g = sum(exp(C)) / sum(exp(N)) * 10^(-snr/10)``, i.e. the SNR is the
  ratio of the mel-band energies summed over the utterance. The noise covers the cut's own span (up to its last
  50 ms), not the longest cut of the batch (lhotse's ``pad_to_longest=False``): the loader's frame counts are the
  cut's, so noise past its end would be read as speech. When one noise window is shorter than the cut, lhotse
  appends further windows, each at the drawn SNR against the whole cut's energy.
- **SpecAugment** (lhotse ``SpecAugment``, ``data.masking``; by default the published settings: time warp factor
  80 within each utterance's frames, 2 frequency masks of up to 27 bins, up to 10 time masks of up to 100 frames
  covering at most 15 % of the frames, applied to an utterance with probability 0.9). It is applied here only for models
  that make no CR-CTC views: with CR-CTC the model masks its two views itself (``hent_srt.model.augment``), so
  applying it here too would mask twice. ``data_spec_augment`` makes that choice from the config.

Randomness is a function of the batch, not of the process: every batch draws from a generator seeded with
``(seed, epoch, its cut ids)``, so the same batch is augmented the same way with any number of DataLoader
workers and after a resume, and the training's own random streams are not touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from lhotse import CutSet
from lhotse.dataset import CutMix, SpecAugment

from hent_srt.config import Config, SpecAugmentConfig
from hent_srt.data.features import FBANK_DIM
from hent_srt.data.manifest import read_cuts
from hent_srt.model.augment import build_spec_augment

__all__ = [
    "Augmentation",
    "NoiseMixer",
    "batch_seed",
    "cr_ctc_views",
    "data_spec_augment",
    "load_noise_cuts",
    "seeded",
    "spec_augment",
]

log = logging.getLogger(__name__)


def cr_ctc_views(config: Config) -> bool:
    """True when the model trains on two SpecAugment views per utterance (CTC with CR-CTC), and masks them."""
    return config.model.use_ctc and config.loss.use_cr_ctc


def data_spec_augment(config: Config) -> bool:
    """True when the training data path applies SpecAugment: ``data.spec_augment`` and no CR-CTC views."""
    return config.data.spec_augment and not cr_ctc_views(config)


def spec_augment(masking: SpecAugmentConfig) -> SpecAugment:
    """lhotse SpecAugment of the data path from ``data.masking`` (its defaults are the published settings),
    applied to an utterance with probability 0.9."""
    return build_spec_augment(masking, "data.masking")


def batch_seed(seed: int, epoch: int, cut_ids: Sequence[str]) -> int:
    """A 63-bit seed that depends only on ``seed``, ``epoch`` and the set of cut ids of a batch."""
    text = f"{seed}:{epoch}:" + "\n".join(sorted(cut_ids))
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big") >> 1


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with python's ``random`` and torch's CPU generator seeded with ``seed``; restore both after."""
    state = random.getstate()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


class NoiseMixer:
    """Mixes noise cuts into a batch of cuts with lhotse ``CutMix`` (see the module docstring).

    Args:
        noise: the noise cuts (eager: each batch draws from all of them), with features of the same kind as the
            speech (or recordings, for on-the-fly features).
        prob: probability that a cut gets noise.
        snr: (low, high) SNR range in dB; each mixed cut draws its SNR uniformly from it.
    """

    def __init__(self, noise: CutSet, prob: float = 0.5, snr: Sequence[float] = (10.0, 20.0)) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"the noise mixing probability must be in [0, 1], got {prob}")
        if len(snr) != 2 or not snr[0] <= snr[1]:
            raise ValueError(f"the SNR range must be two values in dB, low <= high, got {tuple(snr)}")
        if len(noise) == 0:
            raise ValueError("the noise cut set is empty; check the MUSAN manifest")
        self.noise = noise
        self.prob = prob
        self.snr = (float(snr[0]), float(snr[1]))

    def __call__(self, cuts: CutSet, seed: int) -> CutSet:
        """``cuts`` with noise mixed into about ``prob`` of them (same ids); draws only from ``seed``."""
        mix = CutMix(self.noise, snr=self.snr, p=self.prob, pad_to_longest=False, preserve_id=True,
                     seed=random.Random(seed))
        return mix(cuts)


def load_noise_cuts(path: str | Path, on_the_fly: bool = False) -> CutSet:
    """The noise cuts of a manifest made by ``hent-srt features`` (e.g. ``cuts_musan.jsonl.gz``), checked.

    Raises ValueError naming the file when it is missing, empty, or its cuts carry no 80-dim fbank (or, with
    ``on_the_fly``, no audio)."""
    path = Path(path)
    make = ("make it with `hent-srt features --cuts-in MUSAN_DIR/musan_cuts.jsonl.gz --out-dir DIR --split musan` "
            "(stage 1 of a recipe with --musan-dir), or set data.musan_cuts= (empty) to train without noise")
    if not path.is_file():
        raise ValueError(f"data.musan_cuts={path}: no such file; {make}")
    noise = read_cuts(path).to_eager()
    if len(noise) == 0:
        raise ValueError(f"data.musan_cuts={path} holds no cuts; {make}")
    for cut in noise:
        if on_the_fly and not cut.has_recording:
            raise ValueError(f"data.musan_cuts={path}: cut {cut.id!r} has no audio, which on-the-fly features need")
        if not on_the_fly and (not cut.has_features or cut.num_features != FBANK_DIM):
            raise ValueError(f"data.musan_cuts={path}: cut {cut.id!r} has no {FBANK_DIM}-dim fbank; {make}")
    log.info("noise mixing: %d noise cuts (%.1f h) from %s", len(noise), sum(c.duration for c in noise) / 3600,
             path)
    return noise


@dataclass
class Augmentation:
    """What the training dataset applies to a batch: noise mixing (cuts) and SpecAugment (features).

    ``seed`` and the epoch (set by the loader) seed every batch (see the module docstring)."""

    noise: NoiseMixer | None = None
    spec_augment: SpecAugment | None = None
    seed: int = 0

    def mix(self, cuts: CutSet, epoch: int) -> CutSet:
        """``cuts`` with noise mixed in (unchanged without a noise mixer)."""
        if self.noise is None:
            return cuts
        return self.noise(cuts, batch_seed(self.seed, epoch, list(cuts.ids)))

    def mask(self, features: torch.Tensor, feature_lens: torch.Tensor, cut_ids: Sequence[str],
             epoch: int) -> torch.Tensor:
        """SpecAugment of ``features`` ``(B, T, F)``: time warp within each utterance's ``feature_lens[b]``
        frames, masks over the whole padded rows (as icefall); unchanged without SpecAugment."""
        if self.spec_augment is None:
            return features
        segments = torch.stack(
            [torch.arange(len(feature_lens)), torch.zeros_like(feature_lens), feature_lens], dim=1
        ).to(torch.int32)
        with seeded(batch_seed(self.seed + 1, epoch, cut_ids)):
            return self.spec_augment(features, supervision_segments=segments)
