"""The two views of CR-CTC (Yao et al. 2024, arXiv 2410.05101): time warp once, mask each copy independently.

``make_views(x, x_lens, spec_augment, time_warp_factor)`` returns a (2B, T, F) batch: rows b and B + b are the same
utterance, time-warped once (lhotse's ``time_warp`` over its valid frames), then frequency- and time-masked
independently by ``spec_augment`` (a lhotse ``SpecAugment`` without time warp). :func:`build_spec_augment` makes
the data path's SpecAugment from the same settings (``data.masking``). The model builds views in training
only (:meth:`hent_srt.model.hent.HentSrt.uses_two_views`).
"""

from __future__ import annotations

import torch
from lhotse.dataset.signal_transforms import SpecAugment, time_warp

from hent_srt.config import SpecAugmentConfig


def build_spec_augment(
    cfg: SpecAugmentConfig, field: str, time_mask_ratio: float = 1.0, time_warp: bool = True, p: float = 0.9
) -> SpecAugment:
    """A lhotse ``SpecAugment`` from ``cfg`` (named ``field`` in errors, e.g. ``data.masking``).

    ``time_mask_ratio`` r scales the time masks: ``int(num_frame_masks·r)`` masks covering at most
    ``max_frames_mask_fraction·r`` of the frames (CR-CTC's views: r = ``loss.time_mask_ratio``); ``time_warp``
    False leaves the warp out (CR-CTC warps once, before the views are made); ``p`` is the probability that an
    utterance is augmented at all."""
    if time_mask_ratio <= 0:
        raise ValueError(f"loss.time_mask_ratio must be > 0 (published: 2.5), got {time_mask_ratio}")
    for name in ("time_warp_factor", "num_feature_masks"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{field}.{name} must be >= 0 (0: none), got {getattr(cfg, name)}")
    for name in ("features_mask_size", "frames_mask_size"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{field}.{name} must be >= 1, got {getattr(cfg, name)}")
    num_frame_masks = int(cfg.num_frame_masks * time_mask_ratio)
    fraction = cfg.max_frames_mask_fraction * time_mask_ratio
    if num_frame_masks < 1 or not 0.0 < fraction <= 1.0:
        # lhotse's SpecAugment divides by the number of time masks: it cannot make none
        raise ValueError(f"{field}.num_frame_masks={cfg.num_frame_masks} and {field}.max_frames_mask_fraction="
                         f"{cfg.max_frames_mask_fraction}, times the time-mask ratio {time_mask_ratio}, must give at "
                         "least one time mask and a share of the frames in (0, 1]; SpecAugment cannot be without time "
                         "masks: turn it off with data.spec_augment=false (CR-CTC's views need them)")
    return SpecAugment(
        time_warp_factor=cfg.time_warp_factor if time_warp else 0,
        num_feature_masks=cfg.num_feature_masks,
        features_mask_size=cfg.features_mask_size,
        num_frame_masks=num_frame_masks,
        frames_mask_size=cfg.frames_mask_size,
        max_frames_mask_fraction=fraction,
        p=p,
    )


def cr_ctc_spec_augment(cfg: SpecAugmentConfig, time_mask_ratio: float = 2.5) -> SpecAugment:
    """The masks of CR-CTC's views (icefall's CR-CTC): ``cfg``'s with the time masks scaled by
    ``time_mask_ratio`` and no time warp (it is applied once, before duplication; see :func:`make_views`)."""
    return build_spec_augment(cfg, "data.masking", time_mask_ratio, time_warp=False)


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
