"""Sentencepiece tokenizers for the source (ASR) and target (ST) text (stage 2 of a recipe).

Id layout as icefall's ``local/train_bpe_model.py``: ``<blk>`` = 0 (the transducer/CTC blank),
``<sos/eos>`` = 1, ``<unk>`` = 2, no separate bos/eos. ``character_coverage=1.0`` puts every character of
the training text in the vocabulary, so training text never maps to ``<unk>``; ``byte_fallback`` (on when
the vocabulary has room for the 256 byte pieces) spells characters unseen in training as UTF-8 bytes, so
Arabic or Chinese test text never floods ``<unk>``. A requested vocabulary larger than the text supports
is a soft limit (``hard_vocab_limit=False``): the model gets as many pieces as the text allows.

Files written to ``out_dir``: ``bpe.model`` and ``tokens.txt`` (``<piece> <id>`` per line).
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm
from lhotse import CutSet
from lhotse.cut import Cut

from hent_srt.argtypes import int_at_least
from hent_srt.data.manifest import read_cuts
from hent_srt.data.schema import SchemaError, source_text, target_refs, validate_cuts
from hent_srt.fileio import write_bytes_atomic, write_text_atomic

__all__ = ["BLANK", "SOS_EOS", "UNK", "Tokenizer", "add_arguments", "main", "train_bpe"]

log = logging.getLogger(__name__)

BLANK = "<blk>"
SOS_EOS = "<sos/eos>"
UNK = "<unk>"
MODEL_NAME = "bpe.model"
TOKENS_NAME = "tokens.txt"
_SIDES = ("source", "target")
_MODEL_TYPES = ("unigram", "bpe", "char", "word")
_TOO_SMALL = re.compile(r"smaller than required_chars\. (\d+) vs (\d+)")


class Tokenizer:
    """A trained sentencepiece model: text <-> token ids.

    ``encode(["hola mundo"]) -> [[17, 5, 42]]``; ``decode`` is its inverse on normalised text.
    """

    def __init__(self, model_path: str | Path) -> None:
        model_path = Path(model_path)
        if model_path.is_dir():
            model_path = model_path / MODEL_NAME
        if not model_path.is_file():
            raise ValueError(
                f"model_path {str(model_path)!r} does not exist; train it first with `hent-srt bpe` (stage 2)."
            )
        self.model_path = model_path
        self.sp = spm.SentencePieceProcessor(model_file=str(model_path))
        if self.sp.id_to_piece(0) != BLANK:
            raise ValueError(
                f"model_path {str(model_path)!r}: id 0 is {self.sp.id_to_piece(0)!r}, not {BLANK!r}; "
                "retrain it with `hent-srt bpe`, which reserves id 0 for the blank."
            )

    @property
    def vocab_size(self) -> int:
        """Number of pieces, blank included."""
        return self.sp.get_piece_size()

    @property
    def blank_id(self) -> int:
        return self.sp.piece_to_id(BLANK)

    @property
    def sos_eos_id(self) -> int:
        return self.sp.piece_to_id(SOS_EOS)

    @property
    def unk_id(self) -> int:
        return self.sp.unk_id()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text in ``texts`` (a list of strings, not one string)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError("texts must be a list of strings; wrap a single string as [text].")
        return self.sp.encode(list(texts), out_type=int)

    def decode(self, ids: Sequence[Sequence[int]]) -> list[str]:
        """Text of each id sequence in ``ids`` (a list of lists of ints in ``[0, vocab_size)``)."""
        rows = []
        for i, row in enumerate(ids):
            row = [int(t) for t in row]
            bad = [t for t in row if not 0 <= t < self.vocab_size]
            if bad:
                raise ValueError(
                    f"ids[{i}] has ids {bad[:5]} outside [0, {self.vocab_size}); decode with the tokenizer "
                    "the ids were made with."
                )
            rows.append(row)
        return self.sp.decode(rows)

    def id_to_piece(self, token_id: int) -> str:
        return self.sp.id_to_piece(int(token_id))


def _texts(cuts: Iterable[Cut], side: str, lang: str) -> list[str]:
    texts: list[str] = []
    for cut in cuts:
        if side == "source":
            texts.append(source_text(cut))
        else:
            texts.extend(target_refs(cut, lang))
    return [t for t in texts if t.strip()]


def _train(texts: list[str], vocab_size: int, model_type: str, byte_fallback: bool) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,
        byte_fallback=byte_fallback,
        user_defined_symbols=[BLANK, SOS_EOS],
        unk_id=2,
        bos_id=-1,
        eos_id=-1,
        hard_vocab_limit=False,
        input_sentence_size=100_000_000,
        shuffle_input_sentence=True,
        minloglevel=2,
    )
    return model.getvalue()


def train_bpe(
    cuts: Iterable[Cut],
    side: str,
    vocab_size: int,
    out_dir: str | Path,
    model_type: str = "unigram",
    byte_fallback: bool | None = None,
    lang: str = "en",
) -> Tokenizer:
    """Train a sentencepiece model on the source transcripts or target translations of ``cuts``.

    Args:
        cuts: cuts in the cut schema (source side: supervision text; target side: every reference
            translation into ``lang``).
        side: ``"source"`` or ``"target"``.
        vocab_size: requested vocabulary size (an upper bound: smaller when the text supports fewer pieces).
        out_dir: where ``bpe.model`` and ``tokens.txt`` are written.
        model_type: sentencepiece model type, ``unigram`` (default) or ``bpe``, ``char``, ``word``.
        byte_fallback: ``True`` forces UTF-8 byte fallback (needs room for 256 byte pieces), ``False``
            turns it off, ``None`` turns it on when ``vocab_size`` has room for it.
        lang: target language key of the translations.
    """
    if side not in _SIDES:
        raise ValueError(f"side must be one of {_SIDES}, got {side!r}.")
    if model_type not in _MODEL_TYPES:
        raise ValueError(f"model_type must be one of {_MODEL_TYPES}, got {model_type!r}.")
    if not isinstance(vocab_size, int) or vocab_size < 4:
        raise ValueError(f"vocab_size must be an int >= 4, got {vocab_size!r}.")
    texts = _texts(cuts, side, lang)
    if not texts:
        raise ValueError(f"cuts hold no {side} text to train on; check the manifest (stage 0).")

    attempts = [byte_fallback] if byte_fallback is not None else [True, False]
    proto = None
    for fallback in attempts:
        try:
            proto = _train(texts, vocab_size, model_type, fallback)
            break
        except RuntimeError as err:
            match = _TOO_SMALL.search(str(err))
            if match is None:
                raise
            needed = int(match.group(2))
            if fallback and byte_fallback is None:
                log.warning(
                    "vocab_size %d has no room for byte fallback (needs %d); training without it, so "
                    "characters unseen in training will map to <unk>",
                    vocab_size,
                    needed,
                )
                continue
            raise ValueError(
                f"vocab_size {vocab_size} is too small for the {side} text: it needs at least {needed} "
                f"pieces{' with byte fallback' if fallback else ''} (every character is kept). "
                f"Fix: pass vocab_size >= {needed} (--vocab-size)"
                + (" or byte_fallback=False (--no-byte-fallback)." if fallback else ".")
            ) from err

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / MODEL_NAME, proto)
    tok = Tokenizer(out_dir / MODEL_NAME)
    tokens = "".join(f"{tok.id_to_piece(i)} {i}\n" for i in range(tok.vocab_size))
    write_text_atomic(out_dir / TOKENS_NAME, tokens)
    if tok.vocab_size < vocab_size:
        log.info("%s text supports only %d pieces (asked for %d)", side, tok.vocab_size, vocab_size)
    return tok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``hent-srt bpe``."""
    parser.add_argument("--cuts", nargs="+", required=True, help="training cut manifests (.jsonl.gz)")
    parser.add_argument(
        "--side", choices=_SIDES, required=True, help="source transcripts or target translations"
    )
    parser.add_argument(
        "--vocab-size", type=int_at_least(4), required=True, help="requested vocabulary size (upper bound)"
    )
    parser.add_argument("--out-dir", required=True, help="output directory for bpe.model and tokens.txt")
    parser.add_argument("--model-type", choices=_MODEL_TYPES, default="unigram")
    parser.add_argument(
        "--byte-fallback",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="UTF-8 byte fallback (default: on when the vocabulary has room for it)",
    )
    parser.add_argument("--lang", default="en", help="target language key of the translations")
    parser.add_argument("--force", action="store_true", help="retrain even if bpe.model exists")


def _checked_cuts(paths: Sequence[str], side: str, lang: str) -> CutSet:
    """The cuts of the manifests ``paths``, read with named errors, after checking each against the cut schema
    (ids unique, texts visible, and for the target side a translation into ``lang`` in every cut): training a
    tokenizer on part of the text, without a word, would leave the rest to ``<unk>``."""
    for path in paths:
        try:
            num_cuts = validate_cuts(read_cuts(path), require_translation=side == "target", lang=lang)
        except SchemaError as err:
            raise SchemaError(f"--cuts {path}: {err}") from None
        if num_cuts == 0:
            raise SchemaError(f"--cuts {path}: the manifest holds no cut; check the path, or run the stage that "
                              "writes it again")
    return CutSet.from_cuts(cut for path in paths for cut in read_cuts(path))


def main(args: argparse.Namespace) -> int:
    """Run ``hent-srt bpe``; return 0 on success, 2 on an error the user can fix."""
    model = Path(args.out_dir) / MODEL_NAME
    if model.is_file() and not args.force:
        print(f"{model} exists; skipping (pass --force to retrain)")
        return 0
    missing = [p for p in args.cuts if not Path(p).is_file()]
    if missing:
        print(
            f"hent-srt bpe: error: --cuts: cut manifest(s) not found: {', '.join(missing)}; check the paths, or run "
            "stage 0/1 first.",
            file=sys.stderr,
        )
        return 2
    try:
        cuts = _checked_cuts(args.cuts, args.side, args.lang)
        tok = train_bpe(
            cuts,
            side=args.side,
            vocab_size=args.vocab_size,
            out_dir=args.out_dir,
            model_type=args.model_type,
            byte_fallback=args.byte_fallback,
            lang=args.lang,
        )
    except ValueError as err:  # SchemaError and ManifestError included
        print(f"hent-srt bpe: error: {err}", file=sys.stderr)
        return 2
    print(f"{tok.model_path} ({tok.vocab_size} pieces)")
    return 0
