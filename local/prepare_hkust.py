#!/usr/bin/env python3
"""Stage 0 of egs/hkust: HKUST Mandarin (LDC2005S15/T32) + an English translation TSV → lhotse manifests."""

from __future__ import annotations

import argparse
import logging
import sys

from hent_srt.data.corpora.hkust import SPLITS, prepare_hkust


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio-dir", required=True, help="LDC2005S15")
    parser.add_argument("--transcript-dir", required=True, help="LDC2005T32")
    parser.add_argument(
        "--translation-tsv", required=True, help="call, side, start, end, English (see README)"
    )
    parser.add_argument("--output-dir", required=True, help="where the manifests go")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument("--no-normalize", action="store_true", help="keep punctuation and case")
    parser.add_argument(
        "--allow-untranslated",
        action="store_true",
        help="leave out segments without translation (default: error)",
    )
    parser.add_argument(
        "--flac-dir", help="convert the audio once to FLAC here and point the manifests at it"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        prepare_hkust(
            args.audio_dir,
            args.transcript_dir,
            args.translation_tsv,
            output_dir=args.output_dir,
            splits=args.splits,
            normalize=not args.no_normalize,
            allow_untranslated=args.allow_untranslated,
            flac_dir=args.flac_dir,
        )
    except ValueError as e:
        print(f"prepare_hkust: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
