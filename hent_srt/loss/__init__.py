"""Transducer and CTC losses (pure PyTorch; k2's recursion is used when importable, see mutual_information)."""

from hent_srt.loss.ctc import cr_ctc_consistency, ctc_loss
from hent_srt.loss.mutual_information import NonFiniteError, mutual_information_recursion
from hent_srt.loss.rnnt import (
    do_rnnt_pruning,
    get_rnnt_logprobs,
    get_rnnt_logprobs_joint,
    get_rnnt_logprobs_pruned,
    get_rnnt_logprobs_smoothed,
    get_rnnt_prune_ranges,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)

__all__ = [
    "NonFiniteError",
    "cr_ctc_consistency",
    "ctc_loss",
    "do_rnnt_pruning",
    "get_rnnt_logprobs",
    "get_rnnt_logprobs_joint",
    "get_rnnt_logprobs_pruned",
    "get_rnnt_logprobs_smoothed",
    "get_rnnt_prune_ranges",
    "mutual_information_recursion",
    "rnnt_loss",
    "rnnt_loss_pruned",
    "rnnt_loss_simple",
    "rnnt_loss_smoothed",
]
