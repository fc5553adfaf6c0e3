"""``hent-srt prepare <corpus>``: stage 0 of every recipe, corpus files → lhotse manifests.

One sub-command per corpus, each calling that corpus's preparation function:

==================  ========================================================================================
``iwslt22_ta``      IWSLT22 Tunisian–English (LDC2022E01 + the task's split lists), :mod:`.iwslt22_ta`
``fisher_callhome`` Fisher / CALLHOME Spanish + Post et al.'s translations, :mod:`.fisher_callhome`
``hkust``           HKUST Mandarin + an English translation TSV, :mod:`.hkust`
``multi_conv``      the union of the three prepared corpora, :mod:`.multi_conv`
``musan``           MUSAN noise and music for noise mixing, :mod:`.musan`
``synth``           the synthetic speech-translation corpus (the same code as ``hent-srt synth``), :mod:`.synth`
``synth-noise``     a small generated noise set in MUSAN's layout (for egs/mini), :mod:`.synth_noise`
==================  ========================================================================================

A user error (missing directory, malformed file, bad option) prints one line naming the file or option and the
fix, and exits with status 2; nothing is written then. ``local/prepare_<corpus>.py`` (kept as in icefall
recipes) runs the same sub-command through :func:`local_main`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CORPORA", "add_arguments", "local_main", "main"]


def _out_dir(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out-dir", "--output-dir", dest="out_dir", required=True, type=Path, help=what)


def _path_or_none(value: str) -> Path | None:
    return Path(value) if value else None


def _flac_and_normalize(parser: argparse.ArgumentParser, no_normalize_help: str) -> None:
    parser.add_argument("--no-normalize", action="store_true", help=no_normalize_help)
    parser.add_argument(
        "--flac-dir",
        type=_path_or_none,
        help="convert the SPHERE audio once to FLAC here and point the manifests at it (empty: read the .sph)",
    )


def _iwslt22_ta_arguments(parser: argparse.ArgumentParser) -> None:
    from hent_srt.data.corpora.iwslt22_ta import SPLITS

    parser.add_argument(
        "--corpus-dir", required=True, type=Path, help="unpacked LDC2022E01 or LDC2025S05 (holds data/audio/ta ...)"
    )
    parser.add_argument(
        "--split-dir", required=True, type=Path, help="checkout of github.com/kevinduh/iwslt22-dialect (split lists)"
    )
    _out_dir(parser, "where the manifests go")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    _flac_and_normalize(parser, "keep the raw texts (no official filters)")


def _iwslt22_ta(args: argparse.Namespace) -> None:
    from hent_srt.data.corpora.iwslt22_ta import prepare_iwslt22_ta

    prepare_iwslt22_ta(
        args.corpus_dir,
        args.split_dir,
        output_dir=args.out_dir,
        splits=args.splits,
        normalize=not args.no_normalize,
        flac_dir=args.flac_dir,
    )


def _fisher_callhome_arguments(parser: argparse.ArgumentParser) -> None:
    from hent_srt.data.corpora.fisher_callhome import CALLHOME_SPLITS, FISHER_SPLITS

    parser.add_argument(
        "--translation-dir", required=True, type=Path, help="LDC2014T23 or a fisher-callhome-corpus checkout"
    )
    parser.add_argument("--fisher-audio-dir", type=Path, help="LDC2010S01")
    parser.add_argument("--fisher-transcript-dir", type=Path, help="LDC2010T04")
    parser.add_argument("--callhome-audio-dir", type=Path, help="LDC96S35")
    parser.add_argument("--callhome-transcript-dir", type=Path, help="LDC96T17")
    _out_dir(parser, "where the manifests go")
    parser.add_argument(
        "--splits", nargs="+", choices=FISHER_SPLITS + CALLHOME_SPLITS, help="default: all of the corpora given"
    )
    _flac_and_normalize(parser, "keep case and punctuation (no lc.rm)")


def _fisher_callhome(args: argparse.Namespace) -> None:
    from hent_srt.data.corpora.fisher_callhome import prepare_fisher_callhome

    prepare_fisher_callhome(
        args.translation_dir,
        output_dir=args.out_dir,
        fisher_audio_dir=args.fisher_audio_dir,
        fisher_transcript_dir=args.fisher_transcript_dir,
        callhome_audio_dir=args.callhome_audio_dir,
        callhome_transcript_dir=args.callhome_transcript_dir,
        splits=args.splits,
        normalize=not args.no_normalize,
        flac_dir=args.flac_dir,
    )


def _hkust_arguments(parser: argparse.ArgumentParser) -> None:
    from hent_srt.data.corpora.hkust import SPLITS

    parser.add_argument("--audio-dir", required=True, type=Path, help="LDC2005S15")
    parser.add_argument("--transcript-dir", required=True, type=Path, help="LDC2005T32")
    parser.add_argument(
        "--translation-tsv", required=True, type=Path, help="call, side, start, end, English (egs/hkust/README.md)"
    )
    _out_dir(parser, "where the manifests go")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument(
        "--allow-untranslated", action="store_true", help="leave out segments without translation (default: error)"
    )
    _flac_and_normalize(parser, "keep punctuation and case")


def _hkust(args: argparse.Namespace) -> None:
    from hent_srt.data.corpora.hkust import prepare_hkust

    prepare_hkust(
        args.audio_dir,
        args.transcript_dir,
        args.translation_tsv,
        output_dir=args.out_dir,
        splits=args.splits,
        normalize=not args.no_normalize,
        allow_untranslated=args.allow_untranslated,
        flac_dir=args.flac_dir,
    )


def _multi_conv_arguments(parser: argparse.ArgumentParser) -> None:
    for corpus in ("iwslt22_ta", "fisher_callhome", "hkust"):
        parser.add_argument(
            f"--{corpus.replace('_', '-')}-dir",
            type=Path,
            help=f"manifest directory written by `hent-srt prepare {corpus}` (egs/{corpus} stage 0)",
        )
    _out_dir(parser, "where the union's manifests go")


def _multi_conv(args: argparse.Namespace) -> None:
    from hent_srt.data.corpora.multi_conv import CORPORA, prepare_multi_conv

    dirs = {corpus: getattr(args, f"{corpus}_dir") for corpus in CORPORA if getattr(args, f"{corpus}_dir")}
    if not dirs:
        raise ValueError("give at least one of --iwslt22-ta-dir, --fisher-callhome-dir, --hkust-dir.")
    prepare_multi_conv(dirs, output_dir=args.out_dir)


def _musan_arguments(parser: argparse.ArgumentParser) -> None:
    from hent_srt.data.corpora.musan import DEFAULT_PARTS, MIN_WINDOW_SECONDS, PARTS, WINDOW_SECONDS

    parser.add_argument(
        "--corpus-dir", required=True, type=Path, help="the unpacked MUSAN corpus (holds noise/, music/, speech/)"
    )
    _out_dir(parser, "where musan_recordings_<part>.jsonl.gz and musan_cuts.jsonl.gz go")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(DEFAULT_PARTS),
        help="MUSAN parts to prepare (default: noise music, as the published recipe mixes; add speech for babble)",
    )
    parser.add_argument(
        "--window",
        type=float,
        default=WINDOW_SECONDS,
        help=f"cut the recordings into windows of at most this many seconds ({WINDOW_SECONDS:g})",
    )
    parser.add_argument(
        "--min-window",
        type=float,
        default=MIN_WINDOW_SECONDS,
        help=f"drop windows shorter than this many seconds ({MIN_WINDOW_SECONDS:g})",
    )


def _musan(args: argparse.Namespace) -> None:
    from hent_srt.data.corpora.musan import prepare_musan

    prepare_musan(args.corpus_dir, args.out_dir, parts=args.parts, window=args.window, min_window=args.min_window)


def _synth_noise_arguments(parser: argparse.ArgumentParser) -> None:
    from hent_srt.data.corpora.synth_noise import NoiseSetSizes

    defaults = NoiseSetSizes()
    _out_dir(parser, "new or empty directory for the noise set (MUSAN's layout)")
    parser.add_argument(
        "--speech-cuts", type=Path, help="cuts whose utterances make the babble (e.g. the mini corpus's train cuts)"
    )
    parser.add_argument("--num-noise", type=int, default=defaults.num_noise, help="coloured-noise files")
    parser.add_argument("--num-music", type=int, default=defaults.num_music, help="synthetic music files")
    parser.add_argument("--num-babble", type=int, default=defaults.num_babble, help="babble files (need --speech-cuts)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _synth_noise(args: argparse.Namespace) -> None:
    from hent_srt.data.corpora.synth_noise import NoiseSetSizes, make_noise_set

    sizes = NoiseSetSizes(num_noise=args.num_noise, num_music=args.num_music, num_babble=args.num_babble)
    if sizes.num_babble and args.speech_cuts is None:
        raise ValueError("--speech-cuts is needed for babble; pass the mini corpus's train cuts, or --num-babble 0.")
    print(make_noise_set(args.out_dir, args.speech_cuts, sizes, seed=args.seed))


def _synth_arguments(parser: argparse.ArgumentParser) -> None:
    from hent_srt.data.corpora import synth

    synth.add_arguments(parser)


def _synth(args: argparse.Namespace) -> int:
    from hent_srt.data.corpora import synth

    return synth.main(args)


@dataclass(frozen=True)
class Corpus:
    """A sub-command: its help line, how it adds its arguments and how it runs (raising ValueError on bad input)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]


CORPORA: dict[str, Corpus] = {
    "iwslt22_ta": Corpus("IWSLT22 Tunisian-English (LDC2022E01)", _iwslt22_ta_arguments, _iwslt22_ta),
    "fisher_callhome": Corpus(
        "Fisher / CALLHOME Spanish-English (Post et al. 2013)", _fisher_callhome_arguments, _fisher_callhome
    ),
    "hkust": Corpus("HKUST Mandarin-English (LDC2005S15/T32 + translations)", _hkust_arguments, _hkust),
    "multi_conv": Corpus(
        "merge the prepared IWSLT22, Fisher/CALLHOME and HKUST manifests", _multi_conv_arguments, _multi_conv
    ),
    "musan": Corpus("MUSAN noise and music for noise mixing", _musan_arguments, _musan),
    "synth": Corpus("the synthetic speech-translation corpus (as `hent-srt synth`)", _synth_arguments, _synth),
    "synth-noise": Corpus("a generated noise set in MUSAN's layout", _synth_noise_arguments, _synth_noise),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``hent-srt prepare``: one sub-parser per corpus."""
    sub = parser.add_subparsers(dest="corpus", metavar="<corpus>", required=True)
    for name, corpus in CORPORA.items():
        corpus.add_arguments(sub.add_parser(name, help=corpus.help, description=corpus.help))


def main(args: argparse.Namespace) -> int:
    """Run ``hent-srt prepare <corpus>``; 0, or 2 after one line naming what to fix."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    prog = getattr(args, "prog", None) or f"hent-srt prepare {args.corpus}"
    try:
        return int(CORPORA[args.corpus].run(args) or 0)
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
    except OSError as err:
        where = f" {err.filename}" if err.filename else ""
        print(f"{prog}: error: cannot read or write{where}: {err.strerror or err}.", file=sys.stderr)
    return 2


def local_main(corpus: str) -> Callable[[Sequence[str] | None], int]:
    """The ``main(argv)`` of ``local/prepare_<corpus>.py``: ``hent-srt prepare <corpus> ARGV``."""

    def run(argv: Sequence[str] | None = None) -> int:
        parser = argparse.ArgumentParser(prog=f"prepare_{corpus}", description=CORPORA[corpus].help)
        CORPORA[corpus].add_arguments(parser)
        args = parser.parse_args(argv)
        args.corpus, args.prog = corpus, parser.prog
        return main(args)

    return run
