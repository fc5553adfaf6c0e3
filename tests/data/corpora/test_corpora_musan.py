"""MUSAN preparation on a hand-made MUSAN tree: recordings per part, 10 s windows, quirky ANNOTATIONS, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, RecordingSet

from hent_srt.data.corpora.manifests import CorpusError
from hent_srt.data.corpora.musan import cuts_path, prepare_musan, recordings_path

RATE = 8000
# part -> source -> (file id, seconds); ANNOTATIONS written with a BOM, CRLF, tabs, trailing blanks and a
# carriage return inside a line, as edited files come.
TREE = {
    "noise": {"free-sound": [("noise-free-sound-0000", 25.5), ("noise-free-sound-0001", 0.5)]},
    "music": {"fma": [("music-fma-0000", 12.0)], "rfm": [("music-rfm-0000", 9.0)]},
    "speech": {"librivox": [("speech-librivox-0000", 3.0)]},
}
ANNOTATIONS = {
    "free-sound": b"\xef\xbb\xbfnoise-free-sound-0000 http://freesound.org/1\r\nnoise-free-sound-0001\thttp://x \r\n",
    "fma": b"music-fma-0000 Folk,Pop N Big\rBlood  \n\n",
    "rfm": b"music-rfm-0000 Classical Y Someone\n",
    "librivox": b"speech-librivox-0000 male English\n",
}


def _windows(seconds: float, window: float = 10.0, min_window: float = 1.0) -> list[float]:
    lengths = [min(window, seconds - k * window) for k in range(math.ceil(seconds / window))]
    return [round(x, 3) for x in lengths if x >= min_window]


@pytest.fixture(scope="module")
def musan_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("musan_tree") / "musan"
    rng = np.random.default_rng(0)
    for part, sources in TREE.items():
        for source, files in sources.items():
            folder = root / part / source
            folder.mkdir(parents=True)
            for file_id, seconds in files:
                sf.write(str(folder / f"{file_id}.wav"), 0.1 * rng.standard_normal(round(seconds * RATE)), RATE)
            (folder / "ANNOTATIONS").write_bytes(ANNOTATIONS[source])
    return root


def test_recordings_and_windows_of_noise_and_music(musan_dir, tmp_path):
    out = tmp_path / "out"
    recordings, cuts = prepare_musan(musan_dir, out)
    assert set(recordings) == {"noise", "music"}
    for part in ("noise", "music"):
        expected = {file_id: seconds for files in TREE[part].values() for file_id, seconds in files}
        assert {r.id: r.duration for r in recordings[part]} == expected
        assert list(RecordingSet.from_file(recordings_path(out, part)).ids) == list(recordings[part].ids)
        assert all(r.sources[0].source.startswith("/") for r in recordings[part])
    assert not recordings_path(out, "speech").exists()
    expected_windows = sorted(
        length
        for part in ("noise", "music")
        for files in TREE[part].values()
        for _, seconds in files
        for length in _windows(seconds)
    )
    written = CutSet.from_file(cuts_path(out)).to_eager()
    assert sorted(round(c.duration, 3) for c in written) == expected_windows == sorted(
        round(c.duration, 3) for c in cuts
    )
    ids = list(written.ids)
    assert all(not c.supervisions for c in written) and len(set(ids)) == len(ids)
    assert "noise-free-sound-0000-2" in ids and not any(i.startswith("noise-free-sound-0001") for i in ids)
    assert sorted(p.name for p in out.iterdir()) == [
        "musan_cuts.jsonl.gz",
        "musan_recordings_music.jsonl.gz",
        "musan_recordings_noise.jsonl.gz",
    ]


def test_same_recordings_as_lhotse_recipe(musan_dir):
    """The recordings are those of lhotse's MUSAN recipe (noise: lhotse reads no ANNOTATIONS for it)."""
    from lhotse.recipes import prepare_musan as lhotse_prepare_musan

    ours, _ = prepare_musan(musan_dir, parts=["noise", "speech"])
    theirs = lhotse_prepare_musan(musan_dir, parts=["noise", "speech"])
    for part in ("noise", "speech"):
        assert sorted(ours[part].ids) == sorted(theirs[part]["recordings"].ids)
        assert {r.id: r.num_samples for r in ours[part]} == {
            r.id: r.num_samples for r in theirs[part]["recordings"]
        }


def test_speech_on_request_and_window_options(musan_dir):
    recordings, cuts = prepare_musan(musan_dir, parts=["speech"], window=2.0, min_window=0.5)
    assert list(recordings) == ["speech"]
    assert sorted(round(c.duration, 3) for c in cuts) == sorted(_windows(3.0, 2.0, 0.5))


def test_annotations_naming_a_missing_wav(musan_dir, tmp_path):
    import shutil

    tree = shutil.copytree(musan_dir, tmp_path / "musan")
    (tree / "music/fma/music-fma-0000.wav").unlink()
    with pytest.raises(CorpusError, match=r"fma/ANNOTATIONS lists 1 file\(s\) that are not there.*music-fma-0000.wav"):
        prepare_musan(tree, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_a_musan_tree_names_the_missing_directory(musan_dir, tmp_path):
    with pytest.raises(CorpusError, match=f"directory {tmp_path / 'nowhere'} does not exist"):
        prepare_musan(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "half" / "noise").mkdir(parents=True)
    with pytest.raises(CorpusError, match="MUSAN noise: no .wav file"):
        prepare_musan(tmp_path / "half")
    with pytest.raises(CorpusError, match=f"MUSAN music: directory {tmp_path / 'half' / 'music'} does not exist"):
        prepare_musan(tmp_path / "half", parts=["music"])
    with pytest.raises(CorpusError, match=f"it is in {musan_dir}: pass that directory"):
        prepare_musan(musan_dir.parent)
    with pytest.raises(ValueError, match="parts must be"):
        prepare_musan(musan_dir, parts=["babble"])
    assert not (tmp_path / "out").exists()
