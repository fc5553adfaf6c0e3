"""features -> tokenizers -> loader -> Batch on a 20-utterance corpus; resume, DDP split, filters."""

from __future__ import annotations

import logging

import pytest
import torch
from lhotse import CutSet

from hent_srt.data.features import compute_features
from hent_srt.data.loader import Batch, HentSrtDataset, filter_cuts, make_dataloader
from hent_srt.data.manifest import read_cuts
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


def test_filter_cuts_drops_by_duration_and_keep_fn_and_reports_why(setup, caplog):
    cuts, _, _, _ = setup
    short = cuts["utt00"].truncate(duration=0.1)
    long_cut = cuts["utt01"].pad(duration=31.0)
    mixed = CutSet.from_cuts([short, long_cut] + [cuts[f"utt{i:02d}"] for i in range(2, 8)])
    with caplog.at_level(logging.INFO):
        kept = filter_cuts(mixed, keep_fn=lambda c: c.id != "utt05")
    assert sorted(kept.ids) == ["utt02", "utt03", "utt04", "utt06", "utt07"]
    assert "kept 5 of 8" in caplog.text
    assert "1 shorter than 0.2 s" in caplog.text and "1 longer than 30.0 s" in caplog.text
    assert "1 rejected by keep_fn" in caplog.text
    with pytest.raises(ValueError, match="min_duration"):
        filter_cuts(mixed, min_duration=5.0, max_duration=1.0)
