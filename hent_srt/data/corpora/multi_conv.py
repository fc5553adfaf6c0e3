"""The multilingual conversational union: IWSLT22 Tunisian, Fisher/CALLHOME Spanish and HKUST Mandarin.

The published HENT-SRT multilingual system trains one model on all three corpora, with one source BPE
shared across the source languages and an English target BPE. This module merges the manifests that each
corpus's stage 0 wrote (nothing is re-read from the LDC releases): every supervision keeps its source
``language`` (``aeb``, ``es``, ``zh``), so the union carries a source-language tag per cut.

Splits of the union (each built from the corpora given):

- ``train``: iwslt22_ta train + fisher_train + callhome_train + hkust train;
- ``dev``: iwslt22_ta dev + fisher_dev + hkust dev;
- evaluation sets, copied per corpus: ``iwslt22_ta_test1``, ``fisher_dev2``, ``fisher_test``,
  ``callhome_devtest``, ``callhome_evltest``, ``hkust_dev`` (HKUST has no separate test set).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from lhotse import RecordingSet, SupervisionSet

from hent_srt.data.corpora import fisher_callhome, hkust, iwslt22_ta
from hent_srt.data.corpora.manifests import (
    CorpusError,
    SplitManifests,
    load_split,
    manifest_paths,
    write_splits,
)

__all__ = ["CORPORA", "CORPUS", "UNION_SPLITS", "prepare_multi_conv"]

logger = logging.getLogger(__name__)

CORPUS = "multi_conv"
CORPORA = (iwslt22_ta.CORPUS, fisher_callhome.CORPUS, hkust.CORPUS)
UNION_SPLITS: dict[str, tuple[tuple[str, str], ...]] = {
    "train": (
        (iwslt22_ta.CORPUS, "train"),
        (fisher_callhome.CORPUS, "fisher_train"),
        (fisher_callhome.CORPUS, "callhome_train"),
        (hkust.CORPUS, "train"),
    ),
    "dev": ((iwslt22_ta.CORPUS, "dev"), (fisher_callhome.CORPUS, "fisher_dev"), (hkust.CORPUS, "dev")),
    "iwslt22_ta_test1": ((iwslt22_ta.CORPUS, "test1"),),
    "fisher_dev2": ((fisher_callhome.CORPUS, "fisher_dev2"),),
    "fisher_test": ((fisher_callhome.CORPUS, "fisher_test"),),
    "callhome_devtest": ((fisher_callhome.CORPUS, "callhome_devtest"),),
    "callhome_evltest": ((fisher_callhome.CORPUS, "callhome_evltest"),),
    "hkust_dev": ((hkust.CORPUS, "dev"),),
}


def _merge(split: str, parts: list[tuple[str, str, SplitManifests]]) -> SplitManifests:
    recordings, supervisions = {}, {}
    for corpus, part, (recs, sups) in parts:
        for rec in recs:
            if rec.id in recordings:
                raise CorpusError(
                    f"{CORPUS} {split}: recording id {rec.id} of {corpus} {part} is also in another corpus; "
                    "ids must be unique across corpora."
                )
            recordings[rec.id] = rec
        for sup in sups:
            if sup.id in supervisions:
                raise CorpusError(
                    f"{CORPUS} {split}: supervision id {sup.id} of {corpus} {part} is also in another corpus; "
                    "ids must be unique across corpora."
                )
            supervisions[sup.id] = sup
    return RecordingSet.from_recordings(recordings.values()), SupervisionSet.from_segments(
        supervisions.values()
    )


def _parts_present(manifest_dirs: Mapping[str, Path | str], split: str) -> list[tuple[str, str]]:
    return [
        (corpus, part)
        for corpus, part in UNION_SPLITS[split]
        if corpus in manifest_dirs
        and all(p.is_file() for p in manifest_paths(manifest_dirs[corpus], corpus, part))
    ]


def prepare_multi_conv(
    manifest_dirs: Mapping[str, Path | str], output_dir: Path | str | None = None
) -> dict[str, SplitManifests]:
    """Merge the prepared corpora in ``manifest_dirs`` (``{corpus: directory}``) into the union's splits.

    ``manifest_dirs`` keys are among :data:`CORPORA`; a union split is made when every part of it from the
    given corpora exists (e.g. a Fisher-only set-up has no ``callhome_devtest``). Returns
    ``{split: (RecordingSet, SupervisionSet)}``; with ``output_dir`` the manifests
    ``multi_conv_{recordings,supervisions}_<split>.jsonl.gz`` are written (all or nothing).
    """
    unknown = [c for c in manifest_dirs if c not in CORPORA]
    if unknown or not manifest_dirs:
        raise ValueError(
            f"manifest_dirs must map some of {', '.join(CORPORA)} to their manifest directories, got "
            f"{sorted(manifest_dirs)}."
        )
    manifests: dict[str, SplitManifests] = {}
    for split, members in UNION_SPLITS.items():
        present = _parts_present(manifest_dirs, split)
        parts = []
        for corpus, part in members:
            if corpus not in manifest_dirs:
                continue
            if (corpus, part) not in present:
                logger.info("%s %s: %s %s was not prepared, left out", CORPUS, split, corpus, part)
                continue
            parts.append((corpus, part, load_split(manifest_dirs[corpus], corpus, part)))
        if parts:
            manifests[split] = _merge(split, parts)
            counts = ", ".join(f"{c} {p}: {len(m[1])}" for c, p, m in parts)
            logger.info("%s %s: %d segments (%s)", CORPUS, split, len(manifests[split][1]), counts)
    trained = {corpus for corpus, _ in _parts_present(manifest_dirs, "train")}
    for corpus in manifest_dirs:
        if corpus not in trained:
            raise CorpusError(
                f"{corpus}: no training split in {manifest_dirs[corpus]} (expected e.g. "
                f"{manifest_paths(manifest_dirs[corpus], corpus, UNION_SPLITS['train'][0][1])[0].name}); run "
                f"stage 0 of egs/{corpus} first, or leave {corpus} out."
            )
    if output_dir is not None:
        write_splits(output_dir, CORPUS, manifests)
    return manifests
