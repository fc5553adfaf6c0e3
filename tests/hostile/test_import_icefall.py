"""Hostile inputs to ``hent-srt import-icefall``: damaged files, weights that are not icefall's or do not fit the
given config, tokenizers of the wrong size, an output path that is a file; an import writes complete files with
normal permissions, and a failed one leaves an earlier import as it was."""

from __future__ import annotations

import pytest
import torch
from hostile_kit import file_kept, mode_is, no_temporaries, run_cli, snapshot, succeeded, truncated, unchanged, user_error

from hent_srt.train.icefall import to_icefall_names


@pytest.fixture(scope="module")
def icefall_ckpt(exp, tmp_path_factory):
    """The micro model's weights under icefall's names, as icefall's export.py writes pretrained.pt."""
    path = tmp_path_factory.mktemp("icefall") / "pretrained.pt"
    state, _ = to_icefall_names(torch.load(exp.dir / "epoch-2.pt", weights_only=True)["model"])
    torch.save({"model": state}, path)
    return path


@pytest.fixture
def earlier(tmp_path):
    out = tmp_path / "imported"
    out.mkdir()
    (out / "pretrained.pt").write_bytes(b"an earlier import")
    (out / "config.yaml").write_text("base: hent_srt\n")
    return out, snapshot(out)


def run_import(capsys, *sources, out, extra=()):
    return run_cli(capsys, "import-icefall", "--checkpoint", *sources, "--out-dir", out, *extra)


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("damage", ["truncated", "text", "tensor", "hent-names", "unrelated"])
def test_unusable_checkpoint_is_named(icefall_ckpt, exp, earlier, tmp_path, capsys, damage):
    bad = tmp_path / "bad.pt"
    if damage == "truncated":
        truncated(icefall_ckpt, bad)
    elif damage == "text":
        bad.write_text("no weights here\n")
    elif damage == "tensor":
        torch.save(torch.zeros(4), bad)
    elif damage == "hent-names":
        bad = exp.dir / "epoch-2.pt"
    elif damage == "unrelated":
        torch.save({"model": {"decoder.embedding.weight": torch.zeros(5, 3)}}, bad)
    out, before = earlier
    user_error(run_import(capsys, bad, out=out), str(bad))
    unchanged(before, out)


@pytest.mark.hostile("traceback")
def test_config_that_does_not_fit(icefall_ckpt, earlier, capsys):
    out, before = earlier
    user_error(run_import(capsys, icefall_ckpt, out=out, extra=["--config", "tiny"]), "model.", hint="--config")
    unchanged(before, out)


@pytest.mark.hostile("silent")
def test_tokenizer_of_the_wrong_size(icefall_ckpt, makers, earlier, tmp_path, capsys):
    other = makers.train_chars(tmp_path / "other.model", "abcdefghijklmnopqrstuvwxyz0123456789")
    out, before = earlier
    user_error(run_import(capsys, icefall_ckpt, out=out, extra=["--bpe-model", other]), "--bpe-model", str(other))
    unchanged(before, out)


@pytest.mark.hostile("traceback")
def test_missing_tokenizer(icefall_ckpt, earlier, tmp_path, capsys):
    out, before = earlier
    user_error(run_import(capsys, icefall_ckpt, out=out, extra=["--bpe-st-model", tmp_path / "nope.model"]),
               str(tmp_path / "nope.model"))
    unchanged(before, out)


@pytest.mark.hostile("message")
def test_epoch_without_avg(icefall_ckpt, earlier, capsys):
    out, before = earlier
    user_error(run_import(capsys, icefall_ckpt.parent, out=out, extra=["--epoch", "3"]), "--avg")
    unchanged(before, out)


@pytest.mark.hostile("data-loss")
def test_out_dir_that_is_a_file(icefall_ckpt, tmp_path, capsys):
    target = tmp_path / "imported"
    target.write_text("a file\n")
    user_error(run_import(capsys, icefall_ckpt, out=target), str(target))
    file_kept(target)


@pytest.mark.hostile("files")
def test_import_is_complete_with_normal_permissions(icefall_ckpt, exp, tmp_path, capsys):
    out = tmp_path / "imported"
    succeeded(run_import(capsys, icefall_ckpt, out=out, extra=["--bpe-model", exp.dir / "src.model",
                                                                "--bpe-st-model", exp.dir / "tgt.model"]))
    for name in ("pretrained.pt", "config.yaml", "import.json", "bpe_src.model", "bpe_tgt.model"):
        mode_is(out / name)
    no_temporaries(out)
