#!/usr/bin/env python3
"""Stage 0 of egs/fisher_callhome: Fisher / CALLHOME Spanish + Post et al. translations → lhotse manifests."""

from __future__ import annotations

import argparse
import logging
import sys

from hent_srt.data.corpora.fisher_callhome import CALLHOME_SPLITS, FISHER_SPLITS, prepare_fisher_callhome


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--translation-dir", required=True, help="LDC2014T23 or fisher-callhome-corpus checkout"
    )
    parser.add_argument("--fisher-audio-dir", help="LDC2010S01")
    parser.add_argument("--fisher-transcript-dir", help="LDC2010T04")
    parser.add_argument("--callhome-audio-dir", help="LDC96S35")
    parser.add_argument("--callhome-transcript-dir", help="LDC96T17")
    parser.add_argument("--output-dir", required=True, help="where the manifests go")
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=FISHER_SPLITS + CALLHOME_SPLITS,
        help="default: all of the corpora given",
    )
    parser.add_argument("--no-normalize", action="store_true", help="keep case and punctuation (no lc.rm)")
    parser.add_argument(
        "--flac-dir", help="convert the audio once to FLAC here and point the manifests at it"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        prepare_fisher_callhome(
            args.translation_dir,
            output_dir=args.output_dir,
            fisher_audio_dir=args.fisher_audio_dir,
            fisher_transcript_dir=args.fisher_transcript_dir,
            callhome_audio_dir=args.callhome_audio_dir,
            callhome_transcript_dir=args.callhome_transcript_dir,
            splits=args.splits,
            normalize=not args.no_normalize,
            flac_dir=args.flac_dir,
        )
    except ValueError as e:
        print(f"prepare_fisher_callhome: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
