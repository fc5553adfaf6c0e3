"""The two views of CR-CTC (Yao et al. 2024, arXiv 2410.05101): time warp once, mask each copy independently.

``make_views(x, x_lens, spec_augment)`` returns a (2B, T, F) batch: rows b and B + b are the same utterance,
time-warped once (lhotse's ``time_warp`` over its valid frames), then frequency- and time-masked
independently by ``spec_augment`` (a lhotse ``SpecAugment`` without time warp). The model builds views in training
only (:meth:`hent_srt.model.hent.HentSrt.uses_two_views`).
"""

from __future__ import annotations

import torch
from lhotse.dataset.signal_transforms import SpecAugment, time_warp


def cr_ctc_spec_augment(time_mask_ratio: float = 2.5) -> SpecAugment:
    """icefall's CR-CTC masking: ``10·r`` frame masks of <= 100 frames covering <= ``0.15·r`` of the frames,
    2 frequency masks of <= 27 bins, no time warp (it is applied once, before duplication)."""
    if time_mask_ratio <= 0:
        raise ValueError(f"time_mask_ratio must be > 0, got {time_mask_ratio}")
    return SpecAugment(
        time_warp_factor=0,
        num_frame_masks=int(10 * time_mask_ratio),
        frames_mask_size=100,
        max_frames_mask_fraction=0.15 * time_mask_ratio,
        num_feature_masks=2,
        features_mask_size=27,
    )


def warp_time(x: torch.Tensor, x_lens: torch.Tensor, factor: int = 80) -> torch.Tensor:
    """Time-warp each utterance of ``x`` (B, T, F) within its first ``x_lens[b]`` frames; padding untouched."""
    out = x.clone()
    for b, length in enumerate(x_lens.tolist()):
        out[b, :length] = time_warp(x[b, :length], factor=factor)
    return out


def make_views(
    x: torch.Tensor,
    x_lens: torch.Tensor,
    spec_augment: SpecAugment,
    time_warp_factor: int = 80,
) -> torch.Tensor:
    """(B, T, F) → (2B, T, F): two views of every utterance (see the module docstring)."""
    warped = warp_time(x, x_lens, time_warp_factor) if time_warp_factor >= 1 else x
    return spec_augment(warped.repeat(2, 1, 1))
