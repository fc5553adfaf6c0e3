"""Optimizers and learning-rate schedules: ScaledAdam and Eden (icefall's Zipformer recipe)."""

from hent_srt.optim.eden import Eden
from hent_srt.optim.scaled_adam import ScaledAdam

__all__ = ["Eden", "ScaledAdam"]
