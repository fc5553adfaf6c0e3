"""The decode summary carries the reordering split when the test cuts record their crossing links."""

from __future__ import annotations

import json

from lhotse import MonoCut

from hent_srt.data.corpora.synth import NUM_CROSSINGS
from hent_srt.data.schema import make_supervision
from hent_srt.decode.decode import Hypotheses, score_and_write
from hent_srt.metrics import reordering_scores

PAIRS = [("uno dos", "one two", 0), ("casa roja", "red house", 1), ("de mi hermano", "my brother's", 3)]


def _cuts(with_crossings: bool) -> list[MonoCut]:
    cuts = []
    for i, (text, translation, crossings) in enumerate(PAIRS):
        sup = make_supervision(f"u{i}", f"u{i}", 0.0, 1.0, 0, text, "es", translation)
        if with_crossings:
            sup.custom[NUM_CROSSINGS] = crossings
        cuts.append(MonoCut(id=f"u{i}", start=0.0, duration=1.0, channel=0, supervisions=[sup]))
    return cuts


def test_summary_rows_carry_the_split_only_with_crossings(tmp_path):
    st = {"u0": "one two", "u1": "house red", "u2": "my brother's"}
    hyps = Hypotheses(asr={f"u{i}": p[0] for i, p in enumerate(PAIRS)}, st={0.0: st}, audio_seconds=3.0)
    summary = score_and_write(hyps, _cuts(True), "test", tmp_path)
    (row,) = summary["st"]
    expected = reordering_scores([st[f"u{i}"] for i in range(3)], [[p[1] for p in PAIRS]], [p[2] for p in PAIRS])
    assert row["reordering"] == json.loads(json.dumps(expected))
    assert row["reordering"]["monotone"]["num_segments"] == 1 and row["reordering"]["reordered"]["num_segments"] == 2
    assert json.loads((tmp_path / "summary-test.json").read_text())["st"][0]["reordering"] == row["reordering"]
    assert "reordering" not in score_and_write(hyps, _cuts(False), "test", tmp_path / "plain")["st"][0]
