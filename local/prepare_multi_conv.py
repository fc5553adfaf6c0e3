#!/usr/bin/env python3
"""Stage 0 of egs/multi_conv: merge the prepared IWSLT22 / Fisher-CALLHOME / HKUST manifests into one corpus."""

from __future__ import annotations

import argparse
import logging
import sys

from hent_srt.data.corpora.multi_conv import prepare_multi_conv


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iwslt22-ta-dir", help="manifest directory written by egs/iwslt22_ta stage 0")
    parser.add_argument(
        "--fisher-callhome-dir", help="manifest directory written by egs/fisher_callhome stage 0"
    )
    parser.add_argument("--hkust-dir", help="manifest directory written by egs/hkust stage 0")
    parser.add_argument("--output-dir", required=True, help="where the union's manifests go")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dirs = {
        corpus: path
        for corpus, path in (
            ("iwslt22_ta", args.iwslt22_ta_dir),
            ("fisher_callhome", args.fisher_callhome_dir),
            ("hkust", args.hkust_dir),
        )
        if path
    }
    try:
        prepare_multi_conv(dirs, output_dir=args.output_dir)
    except ValueError as e:
        print(f"prepare_multi_conv: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
