"""``hent-srt translate``: audio files in, transcript and translation out.

    hent-srt translate AUDIO [AUDIO ...] --exp-dir DIR [--checkpoint F] [--streaming] [--json]

Each file (anything libsndfile reads: WAV, FLAC, NIST SPHERE ...; any sampling rate; the first channel) becomes
a cut whose audio lhotse resamples to 16 kHz and turns into 80-dim fbank on the fly, the same resampling and
fbank as ``hent-srt features`` (which only adds lilcom compression when it stores the arrays), and is decoded
with :func:`hent_srt.decode.decode.decode_cuts` (or, with ``--streaming``, chunk by chunk through
:class:`hent_srt.decode.streaming.StreamingDecoder`) with the experiment's decoding settings. DIR is a training
experiment or an ``import-icefall`` directory; weights and search options are those of ``hent-srt decode``.

Printed per file: the file, its transcript and its translation (white space collapsed), or with ``--json`` one
JSON object per line (``file``, ``transcript``, ``translation``, ``duration``, ``sampling_rate``, ``channels``;
``error`` instead for a file that failed). A file that cannot be read is named on stderr and the others are still
decoded; the exit status is then 1, or 2 when no file could be decoded.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import soundfile as sf
import torch
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
from lhotse.utils import compute_num_frames

from hent_srt.argtypes import finite_float
from hent_srt.data.corpora.sphere import check_sphere, use_libsndfile_for_sphere
from hent_srt.data.schema import TRANSLATED_TEXT
from hent_srt.data.text import get_normalizer
from hent_srt.decode.decode import (
    FRAME_SHIFT,
    Experiment,
    SearchOptions,
    add_model_arguments,
    add_search_arguments,
    decode_experiment,
    load_experiment,
    search_options,
)

__all__ = ["add_arguments", "audio_cut", "main", "translate_file"]

log = logging.getLogger(__name__)

SOME_UNREADABLE_EXIT = 1  # some files were decoded, others could not be
USER_ERROR_EXIT = 2  # no file could be decoded


def audio_cut(path: Path, cut_id: str) -> MonoCut:
    """A cut over the first channel of the audio file ``path``, with an empty supervision (the decoder's loader
    reads the text fields). Raises ValueError naming the file when it cannot be read."""
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give audio files (WAV, FLAC, SPHERE ...)")
    if not path.is_file():
        raise ValueError(f"{path}: no such file; check the path")
    try:
        if path.suffix.lower() == ".sph":
            check_sphere(path)
        else:
            sf.info(str(path))
        recording = Recording.from_file(path, recording_id=cut_id)
        channel = recording.channel_ids[0]
        cut = MonoCut(id=cut_id, start=0.0, duration=recording.duration, channel=channel, recording=recording)
        cut.load_audio()
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    except Exception as err:  # audio back ends raise many types for unreadable files
        first_line = next(iter(str(err).splitlines()), type(err).__name__)
        raise ValueError(f"{path}: cannot read it as audio ({first_line}); check that it is a complete audio "
                         "file (WAV, FLAC, SPHERE ...)") from None
    cut.supervisions = [SupervisionSegment(id=cut_id, recording_id=cut_id, start=0.0, duration=cut.duration,
                                           channel=channel, text="", custom={TRANSLATED_TEXT: {"en": ""}})]
    return cut


def translate_file(exp: Experiment, path: Path, options: SearchOptions, index: int = 0) -> dict[str, Any]:
    """Transcript and translation of one audio file (ValueError naming the file if it cannot be decoded)."""
    cut = audio_cut(path, f"audio-{index}")
    too_short = exp.model.check_lengths(compute_num_frames(cut.duration, FRAME_SHIFT, cut.sampling_rate), {})
    if too_short is not None:
        raise ValueError(f"{path}: too short ({cut.duration:.3f} s): {too_short}; give at least 0.1 s of audio")
    try:
        hyps = decode_experiment(exp, CutSet.from_cuts([cut]), options, max_duration=max(cut.duration, 1.0) + 1.0,
                       on_the_fly=True)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    squeeze = get_normalizer("none")  # white space collapsed, as in decode's hypothesis files
    transcript = squeeze(hyps.asr[cut.id]) if "asr" in exp.config.model.tasks else None
    translation = squeeze(hyps.st[options.blank_penalties_st[0]][cut.id]) if exp.tgt_tok is not None else None
    return {
        "file": str(path),
        "transcript": transcript,
        "translation": translation,
        "duration": cut.duration,
        "sampling_rate": cut.recording.sampling_rate,
        "channels": cut.recording.num_channels,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", type=Path, nargs="+", help="audio files (WAV, FLAC, SPHERE ...; any rate)")
    add_model_arguments(parser)
    add_search_arguments(parser)
    parser.add_argument("--blank-penalty", "--st-blank-penalty", dest="blank_penalty", type=finite_float,
                        default=None, help="ST blank penalty (default: decode.blank_penalty_st of the config)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of text")


def _print(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return
    print(result["file"])
    if result["transcript"] is not None:
        print(f"  transcript:  {result['transcript']}")
    if result["translation"] is not None:
        print(f"  translation: {result['translation']}")
    sys.stdout.flush()


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        exp = load_experiment(args, device)
        options = search_options(args, exp.config, None if args.blank_penalty is None else (args.blank_penalty,))
    except ValueError as err:
        print(f"hent-srt translate: {err}", file=sys.stderr)
        return 2
    if any(p.suffix.lower() == ".sph" for p in args.audio):
        use_libsndfile_for_sphere()
    failed = 0
    for index, path in enumerate(args.audio):
        try:
            result = translate_file(exp, path, options, index)
        except ValueError as err:
            failed += 1
            print(f"hent-srt translate: {err}", file=sys.stderr)
            if args.json:
                _print({"file": str(path), "error": str(err)}, True)
            continue
        _print(result, args.json)
    if failed:
        print(f"hent-srt translate: {failed} of {len(args.audio)} file(s) could not be decoded; fix or leave out "
              "the files named above", file=sys.stderr)
        return USER_ERROR_EXIT if failed == len(args.audio) else SOME_UNREADABLE_EXIT
    return 0
