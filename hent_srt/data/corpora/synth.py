"""The synthetic 3-language speech-translation corpus and the ``hent-srt synth`` command.

``build_corpus`` draws sentence pairs from a small grammar (``synth_text``: Spanish, Arabic or Mandarin with
aligned English translations whose word order differs), speaks them with eSpeak NG voices (``synth_audio``),
writes the audio as FLAC under ``<out>/audio/<pair>/<split>/`` and one lhotse CutSet per split,
``<out>/<pair>_cuts_<split>.jsonl.gz``, in the cut schema (``hent_srt.data.schema``). Each supervision also
carries ``custom["num_crossings"]``: the number of crossing alignment links of its sentence pair (``count_swaps``
of the grammar's alignment; 0 for a monotone translation), which scoring uses to split the test set by reordering
(:func:`hent_srt.metrics.reordering_scores`); :func:`num_crossings` reads it back.

``--num-test2 N`` adds a second test set (split ``test2``) drawn after the others and disjoint from them, which
leaves the other splits as they are; ``--only-test2`` writes it alone, beside a corpus made earlier with the same
arguments.

Everything is seeded: the same arguments give byte-identical manifests (the gzip header carries no time or
file name), whatever ``num_jobs``. Manifests and audio files are written to a temporary name and renamed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from hent_srt.data.corpora.synth_audio import AudioJob, make_speakers, shutdown_workers, synthesize
from hent_srt.data.corpora.synth_grammar import count_swaps
from hent_srt.data.corpora.synth_text import EXTRA_SPLITS, PAIRS, SPLITS, make_splits
from hent_srt.data.manifest import read_cuts
from hent_srt.fileio import atomic_path

__all__ = ["NUM_CROSSINGS", "add_arguments", "build_corpus", "main", "manifest_path", "num_crossings",
           "read_crossings"]

NUM_CROSSINGS = "num_crossings"


def manifest_path(out_dir: str | Path, pair: str, split: str) -> Path:
    """``<out_dir>/<pair>_cuts_<split>.jsonl.gz``."""
    return Path(out_dir) / f"{pair}_cuts_{split}.jsonl.gz"


def num_crossings(cut) -> int | None:
    """``custom["num_crossings"]`` of the cut's first supervision (None when the corpus did not record it)."""
    if not cut.supervisions:
        return None
    value = (cut.supervisions[0].custom or {}).get(NUM_CROSSINGS)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_crossings(path: str | Path, ids: Sequence[str]) -> list[int]:
    """:func:`num_crossings` of each of ``ids`` (cut ids or their supervisions' ids) from the cut manifest ``path``;
    ValueError naming the manifest when one of them is not in it or has no crossing count recorded."""
    found: dict[str, int | None] = {}
    for cut in read_cuts(path):
        value = num_crossings(cut)
        found[cut.id] = value
        for supervision in cut.supervisions:
            found.setdefault(supervision.id, value)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValueError(f"{path}: {len(missing)} of the {len(ids)} utterances are not in it, e.g. {missing[:3]}; "
                         "give the manifest of the test set the hypotheses were decoded from")
    unknown = [i for i in ids if found[i] is None]
    if unknown:
        raise ValueError(f"{path}: no num_crossings recorded for {len(unknown)} utterances, e.g. {unknown[:3]}; "
                         "only a corpus that knows its word alignments (hent-srt synth) records it")
    return [found[i] for i in ids]


def _write_manifest(path: Path, records: list[dict]) -> None:
    """JSON lines, gzip-compressed with a fixed header (mtime 0, no name), written atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        for record in records:
            gz.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))


def _jitter(rng: random.Random, value: int, spread: int, low: int, high: int) -> int:
    return min(high, max(low, value + rng.randint(-spread, spread)))


def build_corpus(
    pair: str,
    out_dir: str | Path,
    num_train: int,
    num_dev: int,
    num_test: int,
    seed: int = 0,
    telephone: bool = False,
    num_jobs: int = 1,
    progress: bool = True,
    num_test2: int = 0,
    only_test2: bool = False,
) -> dict[str, Path]:
    """Generate the corpus; returns the manifest path per split written ("train", "dev", "test", and "test2" when
    ``num_test2`` > 0: a second test set disjoint from the others, which it leaves unchanged).

    ``only_test2`` writes the second test set only, byte for byte the one the full command writes (every split's
    sentences and speakers are drawn all the same, and test2's audio is made in chunks of its own): it adds a
    second test set beside a corpus made earlier with the same arguments. With ``telephone`` the audio is 8 kHz,
    band-limited to 300–3400 Hz with low noise (the features step resamples it); otherwise 16 kHz.
    """
    from lhotse import AudioSource, MonoCut, Recording

    from hent_srt.data.schema import make_supervision, validate_cuts

    if pair not in PAIRS:
        raise ValueError(f"pair must be one of {', '.join(sorted(PAIRS))}, got {pair!r}.")
    sizes = {"train": num_train, "dev": num_dev, "test": num_test, "test2": num_test2}
    for split, size in sizes.items():
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"num_{split} (--num-{split}) must be an integer >= 0, got {size!r}.")
    if only_test2 and num_test2 == 0:
        raise ValueError("only_test2 (--only-test2) writes the second test set: give its size with --num-test2 N")
    drawn = SPLITS + tuple(split for split in EXTRA_SPLITS if sizes[split] > 0)
    written = EXTRA_SPLITS if only_test2 else drawn
    if sum(sizes.values()) == 0:
        raise ValueError("num_train + num_dev + num_test (--num-train, --num-dev, --num-test) must be > 0; ask for "
                         "at least one utterance.")
    if num_jobs < 1:
        raise ValueError(f"num_jobs (--num-jobs) must be >= 1, got {num_jobs}.")
    spec = PAIRS[pair]
    out = Path(out_dir).resolve()
    sentences = make_splits(pair, seed, sizes)
    speakers = make_speakers(pair, seed)
    rng = random.Random(f"hent-srt-synth/utterances/{pair}/{seed}")
    jobs: list[AudioJob] = []
    entries = []
    for split in drawn:  # every split draws its speakers, so test2 written alone has the full corpus's
        audio_dir = out / "audio" / pair / split
        if split in written:
            audio_dir.mkdir(parents=True, exist_ok=True)
        for index, sentence in enumerate(sentences[split]):
            utt_id = f"{pair}_{split}_{index:06d}"
            speaker = speakers[rng.randrange(len(speakers))]
            job = AudioJob(
                path=str(audio_dir / f"{utt_id}.flac"),
                text=sentence.spoken,
                voice=f"{spec.voice}+{speaker.variant}",
                rate=_jitter(rng, speaker.rate, 12, 80, 450),
                pitch=_jitter(rng, speaker.pitch, 6, 0, 100),
                seed=zlib.crc32(f"{seed}/{utt_id}".encode()),
                telephone=telephone,
            )
            if split in written:
                jobs.append(job)
                entries.append((split, utt_id, speaker.id, sentence))
    # the main splits' audio in one run of chunks (as before test2 existed), test2's (drawn last) in chunks of its own
    num_main = sum(split in SPLITS for split, *_ in entries)
    audio = (synthesize(jobs[:num_main], num_jobs, progress=progress)
             + synthesize(jobs[num_main:], num_jobs, progress=progress))
    cuts_by_split: dict[str, list] = {split: [] for split in written}
    for job, (split, utt_id, speaker_id, sentence), (num_samples, rate) in zip(jobs, entries, audio):
        duration = num_samples / rate
        recording = Recording(
            id=utt_id,
            sources=[AudioSource(type="file", channels=[0], source=job.path)],
            sampling_rate=rate,
            num_samples=num_samples,
            duration=duration,
        )
        supervision = make_supervision(
            id=utt_id,
            recording_id=utt_id,
            start=0.0,
            duration=duration,
            channel=0,
            text=sentence.text,
            language=spec.language,
            translation=sentence.translation,
            speaker=speaker_id,
        )
        supervision.custom[NUM_CROSSINGS] = count_swaps(sentence.links)
        cut = MonoCut(
            id=utt_id,
            start=0.0,
            duration=duration,
            channel=0,
            recording=recording,
            supervisions=[supervision],
        )
        cuts_by_split[split].append(cut)
    paths = {}
    for split in written:
        validate_cuts(cuts_by_split[split])
        paths[split] = manifest_path(out, pair, split)
        _write_manifest(paths[split], [cut.to_dict() for cut in cuts_by_split[split]])
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``hent-srt synth``."""
    parser.add_argument("--pair", required=True, choices=sorted(PAIRS), help="source-target language pair")
    parser.add_argument("--out-dir", required=True, type=Path, help="where audio and manifests are written")
    parser.add_argument("--num-train", type=int, default=3000, help="training utterances (default 3000)")
    parser.add_argument("--num-dev", type=int, default=200, help="development utterances (default 200)")
    parser.add_argument("--num-test", type=int, default=200, help="test utterances (default 200)")
    parser.add_argument("--num-test2", type=int, default=0,
                        help="utterances of a second test set, drawn after the other splits and disjoint from them "
                             "(default 0: none; the other splits are the same with or without it)")
    parser.add_argument("--only-test2", action="store_true",
                        help="write only the second test set (beside a corpus made earlier with the same arguments); "
                             "it is byte for byte the one the full command writes")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--telephone", action="store_true", help="8 kHz band-limited audio with low noise")
    parser.add_argument("--num-jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")


def main(args: argparse.Namespace) -> int:
    """Run ``hent-srt synth``; returns 0, or 2 after printing one line for an error the user can fix."""
    from hent_srt.data.corpora.espeak import EspeakError

    start = time.perf_counter()
    try:
        paths = build_corpus(
            args.pair,
            args.out_dir,
            args.num_train,
            args.num_dev,
            args.num_test,
            seed=args.seed,
            telephone=args.telephone,
            num_jobs=args.num_jobs,
            progress=sys.stderr.isatty(),
            num_test2=args.num_test2,
            only_test2=args.only_test2,
        )
    except (ValueError, EspeakError) as err:
        print(f"hent-srt synth: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(
            f"hent-srt synth: error: cannot write the corpus under {args.out_dir}: {err.strerror or err}; "
            "pass a writable --out-dir with free space.",
            file=sys.stderr,
        )
        return 2
    finally:
        shutdown_workers()
    total = sum(getattr(args, f"num_{split}") for split in paths)
    elapsed = time.perf_counter() - start
    for split, path in paths.items():
        print(f"{split}: {path}")
    print(f"{total} utterances in {elapsed:.1f} s ({total / elapsed:.1f} utterances/s)")
    return 0
