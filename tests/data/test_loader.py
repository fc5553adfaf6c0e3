"""features -> tokenizers -> loader -> Batch on a 20-utterance corpus; resume, DDP split, lazy reading, filters,
exclusion of cuts that do not fit the model."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
import torch
from lhotse import CutSet
from lhotse.cut import Cut

from hent_srt.data import loader as loader_mod
from hent_srt.data.features import compute_features
from hent_srt.data.loader import Batch, HentSrtDataset, filter_cuts, make_dataloader
from hent_srt.data.manifest import ManifestError, read_cuts
from hent_srt.data.schema import source_text, target_text
from hent_srt.data.tokenizer import train_bpe


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny):
    root = tmp_path_factory.mktemp("loader")
    raw_path = tiny.write_cuts(root, num=20)
    cuts = read_cuts(compute_features(raw_path, root / "fbank", "train")).to_eager()
    src = train_bpe(cuts, "source", 100, root / "src")
    tgt = train_bpe(cuts, "target", 100, root / "tgt")
    return cuts, CutSet.from_file(raw_path).to_eager(), src, tgt


def _all_batches(loader) -> list[Batch]:
    return list(loader)


def test_batches_cover_every_cut_once_with_lengths_from_durations(setup, tiny):
    cuts, _, src, tgt = setup
    loader = make_dataloader(cuts, src, tgt, max_duration=4.0, shuffle=False, num_buckets=2)
    batches = _all_batches(loader)
    seen = [cid for b in batches for cid in b.cut_ids]
    assert sorted(seen) == sorted(cuts.ids)
    for b in batches:
        n = len(b)
        assert b.features.dtype == torch.float32 and b.feature_lens.dtype == torch.int64
        assert b.features.shape == (n, int(b.feature_lens.max()), 80)
        assert b.feature_lens.shape == (n,)
        assert b.feature_lens.tolist() == sorted(b.feature_lens.tolist(), reverse=True)
        assert sum(cuts[c].duration for c in b.cut_ids) <= 4.0 + 1e-6
        for k, cid in enumerate(b.cut_ids):
            i = int(cid[3:])
            frames = round(tiny.duration_of(i) * 100)
            assert int(b.feature_lens[k]) == frames
            assert torch.equal(b.features[k, :frames], torch.from_numpy(cuts[cid].load_features()))
            assert b.src_text[k] == source_text(cuts[cid]) and b.tgt_text[k] == target_text(cuts[cid])
        assert src.decode(b.src_tokens) == b.src_text
        assert tgt.decode(b.tgt_tokens) == b.tgt_text


def test_on_the_fly_features_match_precomputed_ones(setup):
    cuts, raw, src, tgt = setup
    ids = ["utt03", "utt04", "utt05"]
    pre = HentSrtDataset(src, tgt)[cuts.subset(cut_ids=ids)]
    fly = HentSrtDataset(src, tgt, on_the_fly=True)[raw.subset(cut_ids=ids).resample(16000)]
    assert fly.cut_ids == pre.cut_ids
    assert torch.equal(fly.feature_lens, pre.feature_lens)
    assert fly.src_tokens == pre.src_tokens and fly.tgt_tokens == pre.tgt_tokens
    for k, n in enumerate(pre.feature_lens.tolist()):
        # lilcom storage is lossy (~0.01); the last frame's window reaches past the audio end, where the
        # on-the-fly batch sees padding instead of lhotse's edge reflection, so it is left out.
        assert torch.allclose(fly.features[k, : n - 1], pre.features[k, : n - 1], atol=0.05)


@pytest.mark.parametrize("num_workers", [0, 1])
def test_resumed_loader_yields_the_same_next_batch(setup, num_workers):
    cuts, _, src, tgt = setup
    kwargs = {"max_duration": 3.0, "shuffle": True, "num_buckets": 2, "seed": 7, "num_workers": num_workers}
    first = make_dataloader(cuts, src, tgt, **kwargs)
    first.set_epoch(3)
    it = iter(first)
    consumed = [next(it).cut_ids for _ in range(2)]
    state = first.state_dict()
    expected = next(it).cut_ids
    del it

    resumed = make_dataloader(cuts, src, tgt, **kwargs)
    resumed.load_state_dict(state)
    rest = [b.cut_ids for b in resumed]
    assert rest[0] == expected
    seen = [c for ids in consumed + rest for c in ids]
    assert sorted(seen) == sorted(cuts.ids)


def test_ddp_ranks_get_disjoint_shares(setup):
    cuts, _, src, tgt = setup
    shares = [
        {
            c
            for b in make_dataloader(cuts, src, tgt, 3.0, True, 2, rank=r, world_size=2, seed=1)
            for c in b.cut_ids
        }
        for r in range(2)
    ]
    assert shares[0] and shares[1] and not shares[0] & shares[1]
    assert shares[0] | shares[1] <= set(cuts.ids)


def test_asr_only_batches_have_empty_targets(setup):
    cuts, _, src, _ = setup
    batch = next(iter(make_dataloader(cuts, src, None, 2.0, False, 2)))
    assert batch.tgt_tokens == [[]] * len(batch) and batch.tgt_text == [""] * len(batch)


def test_batch_to_moves_tensors(setup):
    cuts, _, src, tgt = setup
    batch = next(iter(make_dataloader(cuts, src, tgt, 2.0, False, 2)))
    moved = batch.to("meta")
    assert moved.features.device.type == "meta" and moved.feature_lens.device.type == "meta"
    assert batch.features.device.type == "cpu" and moved.cut_ids == batch.cut_ids


def test_missing_precomputed_features_names_the_cut_and_fix(setup):
    _, raw, src, tgt = setup
    with pytest.raises(ValueError, match=r"cut 'utt0\d' has no precomputed features.*hent-srt features"):
        HentSrtDataset(src, tgt)[raw.subset(first=2)]


def test_bad_loader_arguments(setup):
    cuts, _, src, tgt = setup
    with pytest.raises(ValueError, match="max_duration"):
        make_dataloader(cuts, src, tgt, 0.0, False)
    with pytest.raises(ValueError, match="rank"):
        make_dataloader(cuts, src, tgt, 1.0, False, rank=2, world_size=2)
    with pytest.raises(ValueError, match="num_buckets"):
        make_dataloader(cuts, src, tgt, 1.0, False, num_buckets=1)


def test_filter_cuts_is_lazy_and_reports_why_after_a_pass(setup, caplog):
    cuts, _, _, _ = setup
    short = cuts["utt00"].truncate(duration=0.1)
    long_cut = cuts["utt01"].pad(duration=31.0)
    mixed = CutSet.from_cuts([short, long_cut] + [cuts[f"utt{i:02d}"] for i in range(2, 8)])
    with caplog.at_level(logging.INFO):
        kept = filter_cuts(mixed)
        assert kept.is_lazy and "filter_cuts" not in caplog.text
        assert sorted(c.id for c in kept) == [f"utt{i:02d}" for i in range(2, 8)]
    assert "kept 6 of 8" in caplog.text
    assert "1 shorter than 0.2 s" in caplog.text and "1 longer than 30.0 s" in caplog.text
    with pytest.raises(ValueError, match="min_duration"):
        filter_cuts(mixed, min_duration=5.0, max_duration=1.0)


def test_bucket_bins_from_the_manifest_json_equal_those_from_the_cuts(setup, tmp_path):
    cuts, _, _, _ = setup
    path = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(path)
    lazy = filter_cuts(read_cuts(path), 0.6, 1.2)
    assert list(lazy.data.durations()) == [c.duration for c in lazy]
    eager = CutSet.from_cuts(c for c in cuts if 0.6 <= c.duration <= 1.2)
    assert loader_mod._duration_bins(lazy, 4) == loader_mod._duration_bins(eager, 4)
    assert len(loader_mod._duration_bins(lazy, 4)) == 3


def _write_many(path: Path, template: Cut, num: int, bad_line_after: int | None = None) -> None:
    """``num`` copies of ``template`` (ids c000000 ...) as a manifest; a line that is not JSON after
    ``bad_line_after`` of them."""
    line = json.dumps(template.to_dict(), ensure_ascii=False).replace(json.dumps(template.id), '"@ID@"')
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as f:
        for i in range(num):
            if i == bad_line_after:
                f.write("{this line is not json\n")
            f.write(line.replace("@ID@", f"c{i:06d}") + "\n")


def test_the_loader_reads_only_a_bounded_head_of_a_lazy_manifest(setup, tmp_path, monkeypatch):
    cuts, _, src, tgt = setup
    template = cuts["utt05"]
    path = tmp_path / "many.jsonl.gz"
    monkeypatch.setattr(loader_mod, "NUM_CUTS_FOR_BINS", 1000)  # 10,000 in use: the same bound, a faster test
    head = 1000 + 1500  # the bucket estimate reads 1,000 cuts, the sampler buffers 1,000
    _write_many(path, template, head + 10, bad_line_after=head)
    loader = make_dataloader(filter_cuts(read_cuts(path)), src, tgt, max_duration=5.0, shuffle=True,
                             num_buckets=4, buffer_size=1000)
    first = next(iter(loader))
    assert len(first) >= 1 and all(c.startswith("c") for c in first.cut_ids)
    assert torch.equal(first.features[0, : first.feature_lens[0]], torch.from_numpy(template.load_features()))
    with pytest.raises(ManifestError, match=rf"{path}: line {head + 1} is not valid JSON"):
        for _ in read_cuts(path):
            pass


def test_cuts_that_do_not_fit_are_excluded_where_batches_are_made_and_counted(setup, caplog):
    cuts, _, src, tgt = setup
    unfit = {"utt03", "utt07", "utt11"}
    unfit_frames = {cuts[c].num_frames for c in unfit}  # the tiny corpus's durations are all different
    assert len(unfit_frames) == 3

    def fits(frames, tokens):
        assert set(tokens) == {"asr", "st"} and min(tokens.values()) > 0
        return f"asr: {tokens['asr']} tokens do not fit 1 encoder frame" if frames in unfit_frames else None

    with caplog.at_level(logging.WARNING):
        loader = make_dataloader(filter_cuts(cuts), src, tgt, max_duration=3.0, shuffle=True, num_buckets=2, seed=3,
                                 fits=fits)
        batches = list(loader)
    seen = [c for b in batches for c in b.cut_ids]
    assert sorted(seen) == sorted(set(cuts.ids) - unfit)
    assert {c for b in batches for c in b.excluded} <= unfit
    for cut_id in unfit:
        assert f"excluded cut {cut_id}" in caplog.text
    assert "excluded 3 cut(s) in this pass" in caplog.text
    for b in batches:
        assert len(b) == b.features.shape[0] == len(b.src_tokens) == len(b.tgt_text) > 0


def test_a_batch_whose_every_cut_is_excluded_is_skipped_and_resume_still_exact(setup):
    cuts, _, src, tgt = setup
    kwargs = {"max_duration": 2.0, "shuffle": True, "num_buckets": 2, "seed": 5,
              "fits": lambda frames, tokens: "too short" if frames < 100 else None}
    full = [b.cut_ids for b in make_dataloader(cuts, src, tgt, **kwargs)]
    assert sorted(c for ids in full for c in ids) == sorted(c.id for c in cuts if c.num_frames >= 100)
    first = make_dataloader(cuts, src, tgt, **kwargs)
    it = iter(first)
    consumed = [next(it).cut_ids for _ in range(2)]
    resumed = make_dataloader(cuts, src, tgt, **kwargs)
    resumed.load_state_dict(first.state_dict())
    assert consumed + [b.cut_ids for b in resumed] == full
