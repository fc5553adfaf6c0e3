"""A decoding setting: what changes the hypotheses, spelled into file names and RESULTS.md headings.

Two decodes of a test set with different settings write different files, so both are kept::

    <method>[-beam<B>|-sym<M>]-<weights>[-chunk<C>-left<L>[-st-chunk<C>-left<L>]][-asrbp<P>[-tuned]]

``method`` is ``greedy``, ``modified_beam_search`` or ``greedy_streaming``; ``beam<B>`` for beam search,
``sym<M>`` (symbols per frame) for greedy search; ``weights`` is the checkpoint's file name without ``.pt``
(``averaged``, ``pretrained``, ``epoch-3``) or icefall's ``epoch-E-avg-A[-use-averaged-model]``; the chunking
(frames at 50 Hz) appears for causal encoders, the ENC_st part only when it differs from ENC_asr's; a non-zero
ASR blank penalty appears as ``asrbp<P>``; one chosen on a dev set (``hent-srt decode
--tune-blank-penalty-asr-on``) always appears, as ``asrbp<P>-tuned``, so that it never shares its files with a
decode at the same fixed penalty. The ST blank penalty is added per ST file (``-bp<P>``), as a sweep
writes one file per penalty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DecodeSetting", "weights_tag"]


def weights_tag(checkpoint_stem: str | None, epoch: int | None, avg: int | None, use_averaged_model: bool) -> str:
    """The ``weights`` part of a tag: icefall's ``epoch-E-avg-A`` for an average, else the checkpoint's stem."""
    if epoch is not None:
        base = f"epoch-{epoch}-avg-{avg}"
    elif checkpoint_stem:
        base = checkpoint_stem
    else:
        raise ValueError("a decoding setting needs a checkpoint name or --epoch/--avg")
    return base + ("-use-averaged-model" if use_averaged_model else "")


@dataclass(frozen=True)
class DecodeSetting:
    """Everything besides the ST blank penalty that changes a decode's hypotheses.

    ``chunking`` holds (encoder, chunk size, left context) for each causal encoder ("asr", "st"), frames at 50 Hz.
    """

    method: str
    weights: str
    beam: int | None = None
    max_sym_per_frame: int | None = None
    streaming: bool = False
    chunking: tuple[tuple[str, int, int], ...] = ()
    blank_penalty_asr: float = 0.0
    blank_penalty_asr_tuned_on: str = ""
    """the name of the dev set ``blank_penalty_asr`` was chosen on; "" for a fixed penalty"""

    def _method(self) -> str:
        return "greedy_streaming" if self.streaming else self.method

    def tag(self) -> str:
        """The file-name part (module docstring)."""
        parts = [self._method()]
        if self.method == "modified_beam_search":
            parts.append(f"beam{self.beam}")
        else:
            parts.append(f"sym{self.max_sym_per_frame}")
        parts.append(self.weights)
        first = self.chunking[0][1:] if self.chunking else None
        for encoder, chunk, left in self.chunking:
            if encoder == self.chunking[0][0]:
                parts.append(f"chunk{chunk}-left{left}")
            elif (chunk, left) != first:
                parts.append(f"{encoder}-chunk{chunk}-left{left}")
        if self.blank_penalty_asr_tuned_on:
            parts.append(f"asrbp{self.blank_penalty_asr:g}-tuned")
        elif self.blank_penalty_asr:
            parts.append(f"asrbp{self.blank_penalty_asr:g}")
        return "-".join(parts)

    def label(self) -> str:
        """Readable form for headings, e.g. ``modified beam search (beam 20), epoch-20-avg-13``."""
        if self.method == "modified_beam_search":
            search = f"modified beam search (beam {self.beam})"
        else:
            search = f"{'streaming ' if self.streaming else ''}greedy search (max {self.max_sym_per_frame} symbols/frame)"
        parts = [search, self.weights]
        parts += [f"{encoder.upper()} chunk {chunk}, left context {left}" for encoder, chunk, left in self.chunking]
        if self.blank_penalty_asr_tuned_on:
            parts.append(f"ASR blank penalty {self.blank_penalty_asr:g} (tuned on {self.blank_penalty_asr_tuned_on})")
        elif self.blank_penalty_asr:
            parts.append(f"ASR blank penalty {self.blank_penalty_asr:g}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The setting as plain data (for ``summary-*.json``), with its tag."""
        return {**asdict(self), "chunking": [list(c) for c in self.chunking], "tag": self.tag()}
