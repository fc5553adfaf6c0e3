"""``hent-srt compare``: is one system's translation better than another's? Paired bootstrap of the BLEU difference.

Reads the two systems' hypotheses (Kaldi-style ``utt-id text`` files, e.g. two ``hyps-st-test-*.txt`` of
``hent-srt decode``) and one or several reference files, and prints per subset of the test set: the number of
segments, both BLEU scores, the difference system - baseline, its bootstrap interval and the share of resamples
that contradict its sign (:mod:`hent_srt.significance`), with the BLEU signature and the number of references.
With ``--cuts`` (the test set's cut manifest, whose supervisions record ``num_crossings``, as the synthetic corpus
does) the subsets are those of :data:`hent_srt.metrics.REORDERING_SUBSETS` (all, monotone, reordered, reordered
>= 10); without it, all segments. ``--json-out`` writes the same numbers as JSON.

Input problems are errors naming the file or option (exit 2): those of ``hent-srt score``, a cut manifest that
lacks one of the utterances or records no crossing count for it, a bad ``--num-resamples`` or ``--confidence``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from hent_srt.argtypes import finite_float, int_at_least
from hent_srt.data.text import NORMALIZERS, get_normalizer
from hent_srt.errors import UserError
from hent_srt.fileio import require_output_file, write_text_atomic
from hent_srt.metrics import match_ids, normalize_all
from hent_srt.score import read_text_file
from hent_srt.significance import PairedBootstrap, paired_bootstrap_by_subset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", required=True, type=Path, help="the baseline's hypotheses, lines 'utt-id text'")
    parser.add_argument("--system", required=True, type=Path, help="the compared system's hypotheses, same ids")
    parser.add_argument("--ref", required=True, type=Path, action="append",
                        help="references, lines 'utt-id text'; repeat for several references per segment")
    parser.add_argument("--cuts", type=Path,
                        help="cut manifest of the test set recording num_crossings per supervision: also compare "
                             "on the monotone and reordered segments")
    parser.add_argument("--normalizer", default="none", choices=sorted(NORMALIZERS),
                        help="text normaliser applied to hypotheses and references before scoring")
    parser.add_argument("--num-resamples", type=int_at_least(1), default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--confidence", type=finite_float, default=0.95, help="interval confidence in (0, 1), default 0.95")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    parser.add_argument("--json-out", type=Path, help="also write the results here as JSON")


def format_table(results: dict[str, PairedBootstrap]) -> str:
    """The printed table of :func:`main`: one line per subset, then the signature and resampling settings."""
    first = next(iter(results.values()))
    percent = f"{100 * first.confidence:g}%"
    lines = [f"{'subset':<14}{'segments':>9}{'baseline':>10}{'system':>9}{'system - baseline':>19}"
             f"{percent + ' interval':>22}{'p':>8}"]
    for name, r in results.items():
        interval = f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        lines.append(f"{name:<14}{r.num_segments:>9}{r.baseline_bleu:>10.2f}{r.system_bleu:>9.2f}{r.delta:>+19.2f}"
                     f"{interval:>22}{r.p_value:>8.3f}")
    lines.append(f"BLEU {first.bleu_signature}, {first.num_refs} reference(s); paired bootstrap, "
                 f"{first.num_resamples} resamples; p: share of resamples not agreeing with the sign of the difference")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    normalize = get_normalizer(args.normalizer)
    try:
        if not 0.0 < args.confidence < 1.0:
            raise UserError(f"--confidence {args.confidence:g}: give a value strictly between 0 and 1, e.g. 0.95")
        if args.json_out is not None:
            require_output_file(args.json_out, "--json-out")
        baseline = read_text_file(args.baseline, "--baseline")
        system = read_text_file(args.system, "--system")
        refs = [read_text_file(path, "--ref") for path in args.ref]
        ids = match_ids(system, refs[0], str(args.system), str(args.ref[0]))
        match_ids(baseline, refs[0], str(args.baseline), str(args.ref[0]))
        for path, ref in zip(args.ref[1:], refs[1:]):
            match_ids(system, ref, str(args.system), str(path))
        if not ids:
            raise UserError(f"{args.system} and {args.ref[0]} hold no utterances; nothing to compare "
                            "(lines look like 'utt-id text')")
        crossings = None
        if args.cuts is not None:
            from hent_srt.data.corpora.synth import read_crossings  # lhotse: seconds of start-up, only with --cuts

            crossings = read_crossings(args.cuts, ids)
    except ValueError as err:
        print(f"hent-srt compare: {err}", file=sys.stderr)
        return 2
    base_texts = normalize_all([baseline[i] for i in ids], normalize)
    sys_texts = normalize_all([system[i] for i in ids], normalize)
    ref_streams = [normalize_all([ref[i] for i in ids], normalize) for ref in refs]
    results = paired_bootstrap_by_subset(base_texts, sys_texts, ref_streams, crossings, args.num_resamples,
                                         args.confidence, args.seed)
    print(f"baseline: {args.baseline}\nsystem: {args.system}\nnormaliser: {args.normalizer}")
    print(format_table(results))
    if args.json_out is not None:
        record = {"baseline": str(args.baseline), "system": str(args.system), "refs": [str(p) for p in args.ref],
                  "normalizer": args.normalizer, "seed": args.seed,
                  "subsets": {name: asdict(r) for name, r in results.items()}}
        write_text_atomic(args.json_out, json.dumps(record, indent=2) + "\n")
    return 0
