#!/usr/bin/env python3
"""Stage 0 of egs/iwslt22_ta: LDC2022E01 + the shared task's split lists → lhotse manifests."""

from __future__ import annotations

import argparse
import logging
import sys

from hent_srt.data.corpora.iwslt22_ta import SPLITS, prepare_iwslt22_ta


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus-dir", required=True, help="unpacked LDC2022E01 (holds data/audio/ta ...)")
    parser.add_argument(
        "--split-dir", required=True, help="checkout of github.com/kevinduh/iwslt22-dialect (split lists)"
    )
    parser.add_argument("--output-dir", required=True, help="where the manifests go")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument(
        "--no-normalize", action="store_true", help="keep the raw texts (no official filters)"
    )
    parser.add_argument(
        "--flac-dir", help="convert the audio once to FLAC here and point the manifests at it"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        prepare_iwslt22_ta(
            args.corpus_dir,
            args.split_dir,
            output_dir=args.output_dir,
            splits=args.splits,
            normalize=not args.no_normalize,
            flac_dir=args.flac_dir,
        )
    except ValueError as e:
        print(f"prepare_iwslt22_ta: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
