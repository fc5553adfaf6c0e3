"""Hostile inputs to ``hent-srt export``: preset names as ``--config``, weights that are missing or do not fit,
option combinations that cannot work, verification cuts without features, an output path that is a file; an
export writes complete files with normal permissions and no temporaries."""

from __future__ import annotations

import pytest
from hostile_kit import fail, file_kept, mode_is, no_temporaries, run_cli, snapshot, succeeded, unchanged, user_error


@pytest.fixture
def export(exp, tmp_path, capsys):
    out = tmp_path / "export"
    out.mkdir()
    (out / "model.pt").write_bytes(b"an earlier export")

    def run(*extra, checkpoint=exp.dir / "epoch-2.pt", out_dir=out):
        return run_cli(capsys, "export", "--exp-dir", exp.dir, "--checkpoint", checkpoint, "--out-dir", out_dir,
                       *extra)

    run.out = out
    run.before = snapshot(out)
    return run


@pytest.mark.hostile("packaging")
def test_preset_name_as_config(export):
    # "tiny" is a shipped preset: it is found, and the micro model's weights do not fit it
    outcome = export("--config", "tiny", "--torchscript")
    user_error(outcome, "model.")
    if "not found" in outcome.err:
        fail("message", f"--config tiny was not resolved as a preset:\n{outcome.err}")
    unchanged(export.before, export.out)


@pytest.mark.hostile("traceback")
def test_missing_checkpoint(export, tmp_path):
    user_error(export("--torchscript", checkpoint=tmp_path / "nope.pt"), str(tmp_path / "nope.pt"))
    unchanged(export.before, export.out)


@pytest.mark.hostile("traceback")
def test_weights_that_do_not_fit(export):
    user_error(export("--torchscript", "--set", "model.decoder_dim=16"), "model.decoder_dim")
    unchanged(export.before, export.out)


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("extra", "names"), [
    (["--torchscript", "--int8"], ["--int8", "--onnx"]),
    (["--torchscript", "--chunk-size", "16"], ["--chunk-size", "--streaming"]),
    (["--torchscript", "--streaming"], ["causal"]),
    (["--onnx", "--opset", "5"], ["--opset"]),
    (["--torchscript", "--verify-num", "0"], ["--verify-num"]),
    (["--torchscript", "--chunk-size", "-4", "--streaming"], ["--chunk-size"]),
])
def test_options_that_cannot_work(export, feats, extra, names):
    if "--verify-num" in extra:
        extra = [*extra, "--verify-cuts", str(feats)]
    user_error(export(*extra), *names)
    unchanged(export.before, export.out)


@pytest.mark.hostile("traceback")
def test_verify_cuts_without_features(export, raw_cuts):
    user_error(export("--torchscript", "--verify-cuts", raw_cuts), str(raw_cuts), hint="hent-srt features")
    unchanged(export.before, export.out)


@pytest.mark.hostile("data-loss")
def test_out_dir_that_is_a_file(export, tmp_path):
    target = tmp_path / "export.txt"
    target.write_text("a file\n")
    user_error(export("--torchscript", out_dir=target), str(target))
    file_kept(target)


@pytest.mark.hostile("files")
def test_torchscript_export_is_complete(export, feats):
    succeeded(export("--torchscript", "--verify-cuts", feats, "--verify-num", "2"))
    for path in export.out.iterdir():
        if path.name.startswith("."):
            continue
        mode_is(path)
    if (export.out / "model.pt").read_bytes() == b"an earlier export":
        fail("silent", "model.pt was not replaced")
    no_temporaries(export.out)
