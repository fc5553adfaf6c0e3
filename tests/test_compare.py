"""``hent-srt compare`` on the files ``hent-srt decode`` writes: the subsets' BLEU equal the decode summaries', the
difference is the paired bootstrap's, and bad input is a named error that writes nothing."""

from __future__ import annotations

import json

import pytest
from lhotse import CutSet, MonoCut

from hent_srt.cli import main
from hent_srt.data.corpora.synth import NUM_CROSSINGS
from hent_srt.data.schema import make_supervision
from hent_srt.decode.decode import Hypotheses, score_and_write
from hent_srt.significance import paired_bootstrap_bleu

# (source, reference translation, crossing links, baseline's translation, system's translation)
SEGMENTS = [
    ("esta flor es barata", "this flower is cheap", 0, "this table is cheap", "this flower is cheap"),
    ("esa bicicleta es buena", "that bicycle is good", 0, "that bicycle is good", "that car is good"),
    ("la casa roja de mi hermano", "my brother's red house", 4, "the red house my brother", "my brother's red house"),
    ("el perro negro come pan", "the black dog eats bread", 1, "the dog black eats bread", "the black dog eats bread"),
    ("lo leyó ayer en casa", "he read it at home yesterday", 12, "he read yesterday at home",
     "he read it at home yesterday"),
    ("ella me lo dio ayer", "she gave it to me yesterday", 10, "she me it gave yesterday", "she gave it me yesterday"),
]


def decode_dirs(tmp_path, crossings: bool = True):
    """Two systems' decode directories written by the decoder's own scorer, and the cut manifest."""
    cuts = []
    for i, (text, translation, links, _, _) in enumerate(SEGMENTS):
        sup = make_supervision(f"u{i}", f"u{i}", 0.0, 1.0, 0, text, "es", translation)
        if crossings:
            sup.custom[NUM_CROSSINGS] = links
        cuts.append(MonoCut(id=f"u{i}", start=0.0, duration=1.0, channel=0, supervisions=[sup]))
    manifest = tmp_path / "cuts_test.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(manifest)
    summaries = {}
    for name, column in (("baseline", 3), ("system", 4)):
        st = {f"u{i}": seg[column] for i, seg in enumerate(SEGMENTS)}
        hyps = Hypotheses(asr={f"u{i}": seg[0] for i, seg in enumerate(SEGMENTS)}, st={1.0: st}, audio_seconds=6.0)
        summaries[name] = score_and_write(hyps, cuts, "test", tmp_path / name)
    return manifest, summaries


def run(tmp_path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["compare", "--baseline", str(tmp_path / "baseline" / "hyps-st-test-bp1.txt"),
                 "--system", str(tmp_path / "system" / "hyps-st-test-bp1.txt"),
                 "--ref", str(tmp_path / "system" / "refs-st-test.txt"), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_subsets_equal_the_decode_summaries_and_the_bootstrap(tmp_path, capsys):
    manifest, summaries = decode_dirs(tmp_path)
    out_json = tmp_path / "results" / "compare.json"
    code, out, err = run(tmp_path, capsys, "--cuts", str(manifest), "--num-resamples", "300", "--seed", "5",
                         "--json-out", str(out_json))
    assert (code, err) == (0, "")
    record = json.loads(out_json.read_text())
    subsets = record["subsets"]
    assert list(subsets) == ["all", "monotone", "reordered", "reordered_10"]
    (base_row,), (sys_row,) = summaries["baseline"]["st"], summaries["system"]["st"]
    assert subsets["all"]["baseline_bleu"] == pytest.approx(base_row["bleu"])
    assert subsets["all"]["system_bleu"] == pytest.approx(sys_row["bleu"])
    for name in ("monotone", "reordered", "reordered_10"):
        assert subsets[name]["num_segments"] == sys_row["reordering"][name]["num_segments"]
        assert subsets[name]["baseline_bleu"] == pytest.approx(base_row["reordering"][name]["bleu"])
        assert subsets[name]["system_bleu"] == pytest.approx(sys_row["reordering"][name]["bleu"])
    reordered = [k for k, seg in enumerate(SEGMENTS) if seg[2] >= 1]
    expected = paired_bootstrap_bleu([SEGMENTS[k][3] for k in reordered], [SEGMENTS[k][4] for k in reordered],
                                     [[SEGMENTS[k][1] for k in reordered]], num_resamples=300, seed=5)
    assert subsets["reordered"]["delta"] == pytest.approx(expected.delta)
    assert (subsets["reordered"]["ci_low"], subsets["reordered"]["ci_high"]) == pytest.approx(
        (expected.ci_low, expected.ci_high))
    assert subsets["reordered"]["p_value"] == expected.p_value
    assert subsets["monotone"]["num_segments"] == 2 and subsets["reordered_10"]["num_segments"] == 2
    lines = out.splitlines()
    assert lines[3].split()[:2] == ["subset", "segments"] and lines[4].split()[:2] == ["all", "6"]
    assert f"{subsets['all']['delta']:+.2f}" in lines[4]
    assert "nrefs:1|case:lc|eff:no|tok:13a|smooth:exp" in out and "1 reference(s)" in out and "300 resamples" in out


def test_without_cuts_all_segments(tmp_path, capsys):
    decode_dirs(tmp_path)
    code, out, err = run(tmp_path, capsys)
    assert (code, err) == (0, "")
    assert [line.split()[0] for line in out.splitlines()[4:-1]] == ["all"]


@pytest.mark.parametrize("extra, named", [
    (("--confidence", "1.5"), "--confidence 1.5: give a value strictly between 0 and 1"),
    (("--cuts", "MISSING"), "no such manifest file"),
    (("--cuts", "PLAIN"), "no num_crossings recorded for 6 utterances"),
    (("--cuts", "OTHER"), "4 of the 6 utterances are not in it"),
    (("--json-out", "DIR"), "is a directory"),
])
def test_bad_input_is_a_named_error(tmp_path, capsys, extra, named):
    (tmp_path / "plain").mkdir()
    plain, _ = decode_dirs(tmp_path / "plain", crossings=False)
    manifest, _ = decode_dirs(tmp_path)
    other = tmp_path / "other.jsonl.gz"
    CutSet.from_cuts([c for c in CutSet.from_file(manifest) if c.id in ("u0", "u1")]).to_file(other)
    (tmp_path / "out").mkdir()
    paths = {"MISSING": str(tmp_path / "none.jsonl.gz"), "PLAIN": str(plain), "OTHER": str(other),
             "DIR": str(tmp_path / "out")}
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out, err = run(tmp_path, capsys, *(paths.get(word, word) for word in extra))
    assert code == 2 and named in err and err.startswith("hent-srt compare: ") and err.count("\n") == 1
    assert out == ""
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_hypotheses_of_different_sets_are_refused(tmp_path, capsys):
    decode_dirs(tmp_path)
    baseline = tmp_path / "baseline" / "hyps-st-test-bp1.txt"
    baseline.write_text("".join(line for line in baseline.read_text().splitlines(keepends=True)
                                if not line.startswith("u5 ")))
    code, out, err = run(tmp_path, capsys)
    assert code == 2 and "u5" in err and "baseline" in err and out == ""
