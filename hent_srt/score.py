"""``hent-srt score``: score a Kaldi-style hypothesis file against one or several reference files.

Prints WER (or CER) with insertion/deletion/substitution counts, and corpus BLEU and chrF++ with their sacrebleu
signatures and the number of references, after the chosen normaliser. Error rates use the first reference file;
BLEU and chrF++ use all of them.

Every input problem is an error naming the file or option (exit 2): a missing, unreadable or non-UTF-8 file, a
repeated utterance id, ids present on one side only, nothing to score, references without a single word (an
error rate is undefined), an ``--errs-out`` that cannot be written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hent_srt.data.text import NORMALIZERS, get_normalizer
from hent_srt.errors import UserError
from hent_srt.fileio import check_utf8, require_input_file, require_output_file, write_text_atomic
from hent_srt.metrics import (
    error_rate,
    format_error_details,
    match_ids,
    normalize_all,
    read_kaldi_text,
    translation_score,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hyp", required=True, type=Path, help="hypotheses, lines 'utt-id text'")
    parser.add_argument("--ref", required=True, type=Path, action="append",
                        help="references, lines 'utt-id text'; repeat for several references per segment")
    parser.add_argument("--normalizer", default="none", choices=sorted(NORMALIZERS),
                        help="text normaliser applied to hypotheses and references before scoring")
    parser.add_argument("--unit", default="word", choices=["word", "char"],
                        help="error-rate unit: word (WER) or char (CER, e.g. Mandarin)")
    parser.add_argument("--metrics", default="er,bleu", help="comma list of: er (WER/CER), bleu (BLEU+chrF++)")
    parser.add_argument("--errs-out", type=Path, help="write the per-utterance error details here")


def read_text_file(path: Path, option: str) -> dict[str, str]:
    """The ``utt-id text`` lines of ``path``; errors name ``option`` or the file and line."""
    require_input_file(path, option)
    try:
        return read_kaldi_text(path)
    except UnicodeDecodeError:
        check_utf8(path)  # raises, naming the line
        raise


def _check_options(args: argparse.Namespace) -> set[str]:
    metrics = {m.strip() for m in args.metrics.split(",") if m.strip()}
    unknown = metrics - {"er", "bleu"}
    if unknown or not metrics:
        raise UserError(f"--metrics {args.metrics!r}: unknown {sorted(unknown)}; use er and/or bleu (e.g. er,bleu)"
                        if unknown else f"--metrics {args.metrics!r} names no metric; use er and/or bleu")
    if args.errs_out is not None:
        if "er" not in metrics:
            raise UserError("--errs-out holds error-rate details: add er to --metrics or drop --errs-out")
        require_output_file(args.errs_out, "--errs-out")
    return metrics


def main(args: argparse.Namespace) -> int:
    normalize = get_normalizer(args.normalizer)
    try:
        metrics = _check_options(args)
        hyps = read_text_file(args.hyp, "--hyp")
        refs = [read_text_file(path, "--ref") for path in args.ref]
        ids = match_ids(hyps, refs[0], str(args.hyp), str(args.ref[0]))
        for path, ref in zip(args.ref[1:], refs[1:]):
            match_ids(hyps, ref, str(args.hyp), str(path))
        if not ids:
            raise UserError(f"{args.hyp} and {args.ref[0]} hold no utterances; nothing to score "
                            "(lines look like 'utt-id text')")
        hyp_texts = normalize_all([hyps[i] for i in ids], normalize)
        ref_streams = [normalize_all([ref[i] for i in ids], normalize) for ref in refs]
        result = error_rate(ref_streams[0], hyp_texts, ids, unit=args.unit) if "er" in metrics else None
        if result is not None and result.num_ref == 0:
            units = "words" if args.unit == "word" else "characters"
            raise UserError(f"{args.ref[0]}: no reference {units} after the {args.normalizer!r} normaliser, so "
                            "the error rate is undefined; check the references (or use --metrics bleu)")
    except ValueError as err:
        print(f"hent-srt score: {err}", file=sys.stderr)
        return 2
    print(f"normaliser: {args.normalizer}")
    if result is not None:
        print(result.summary())
        if args.errs_out:
            write_text_atomic(args.errs_out, format_error_details(result))
    if "bleu" in metrics:
        print(translation_score(hyp_texts, ref_streams).summary())
    return 0
