"""``hent-srt score``: score a Kaldi-style hypothesis file against one or several reference files.

Prints WER (or CER) with insertion/deletion/substitution counts, and corpus BLEU and chrF++ with their sacrebleu
signatures and the number of references, after the chosen normaliser. Error rates use the first reference file;
BLEU and chrF++ use all of them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hent_srt.data.text import NORMALIZERS, get_normalizer
from hent_srt.fileio import write_text_atomic
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


def main(args: argparse.Namespace) -> int:
    metrics = {m.strip() for m in args.metrics.split(",") if m.strip()}
    unknown = metrics - {"er", "bleu"}
    if unknown:
        print(f"hent-srt score: unknown --metrics {sorted(unknown)}; use er and/or bleu", file=sys.stderr)
        return 2
    normalize = get_normalizer(args.normalizer)
    try:
        hyps = read_kaldi_text(args.hyp)
        refs = [read_kaldi_text(path) for path in args.ref]
        ids = match_ids(hyps, refs[0], str(args.hyp), str(args.ref[0]))
        for path, ref in zip(args.ref[1:], refs[1:]):
            match_ids(hyps, ref, str(args.hyp), str(path))
    except ValueError as err:
        print(f"hent-srt score: {err}", file=sys.stderr)
        return 2
    hyp_texts = normalize_all([hyps[i] for i in ids], normalize)
    ref_streams = [normalize_all([ref[i] for i in ids], normalize) for ref in refs]
    print(f"normaliser: {args.normalizer}")
    if "er" in metrics:
        result = error_rate(ref_streams[0], hyp_texts, ids, unit=args.unit)
        print(result.summary())
        if args.errs_out:
            write_text_atomic(args.errs_out, format_error_details(result))
    if "bleu" in metrics:
        print(translation_score(hyp_texts, ref_streams).summary())
    return 0
