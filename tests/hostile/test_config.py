"""Hostile configs: ``hent-srt config show`` and the ``--set`` overrides and YAML files every command reads."""

from __future__ import annotations

import pytest
from hostile_kit import fail, run_cli, succeeded, user_error


def write(tmp_path, text: str | bytes, name: str = "bad.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize(("text", "where"), [
    ("model:\n  decoder_dim: [1, 2\n", ":3:1"),          # an unclosed list
    ("model:\n\tdecoder_dim: 3\n", ":2:1"),               # a tab as indentation
    ("model: {decoder_dim: 3\n", ":2:1"),                 # an unclosed mapping
])
def test_yaml_syntax_error_names_file_line_column(tmp_path, capsys, text, where):
    path = write(tmp_path, text)
    user_error(run_cli(capsys, "config", "show", path), f"{path}{where}", hint="YAML")


@pytest.mark.hostile("silent")
def test_repeated_key_names_both_lines(tmp_path, capsys):
    path = write(tmp_path, "optim:\n  base_lr: 0.1\n  base_lr: 0.2\n")
    user_error(run_cli(capsys, "config", "show", path), f"{path}:3", "first at line 2")


@pytest.mark.hostile("message")
def test_non_utf8_yaml_names_the_line(tmp_path, capsys):
    path = write(tmp_path, b"# r\xe9sum\xe9\nmodel: {}\n")
    user_error(run_cli(capsys, "config", "show", path), f"{path}:1", hint="UTF-8")


@pytest.mark.hostile("traceback")
def test_top_level_list_is_refused(tmp_path, capsys):
    path = write(tmp_path, "- model\n- optim\n")
    user_error(run_cli(capsys, "config", "show", path), str(path), hint="mapping")


@pytest.mark.hostile("message")
def test_unknown_key_suggests_the_close_one(tmp_path, capsys):
    path = write(tmp_path, "optim:\n  base_lrr: 0.1\n")
    user_error(run_cli(capsys, "config", "show", path), "optim.base_lrr", hint="did you mean optim.base_lr")


@pytest.mark.hostile("message")
def test_number_for_a_text_field_says_quote_it(tmp_path, capsys):
    path = write(tmp_path, "data:\n  train_cuts: 3\n")
    user_error(run_cli(capsys, "config", "show", path), "data.train_cuts", hint="quote")


@pytest.mark.hostile("traceback")
def test_base_loop_is_named(tmp_path, capsys):
    a = write(tmp_path, "base: b.yaml\n", "a.yaml")
    write(tmp_path, "base: a.yaml\n", "b.yaml")
    user_error(run_cli(capsys, "config", "show", a), "inheritance loop", str(a))


@pytest.mark.hostile("packaging")
def test_missing_base_lists_the_presets(tmp_path, capsys):
    path = write(tmp_path, "base: no_such_preset\n")
    user_error(run_cli(capsys, "config", "show", path), "no_such_preset", "hent_srt")


@pytest.mark.hostile("traceback")
def test_directory_as_config(tmp_path, capsys):
    user_error(run_cli(capsys, "config", "show", tmp_path), str(tmp_path), hint="directory")


@pytest.mark.hostile("packaging")
def test_missing_preset(capsys):
    user_error(run_cli(capsys, "config", "show", "hent_srtt"), "hent_srtt", "tiny")


@pytest.mark.hostile("message")
@pytest.mark.parametrize(("override", "names"), [
    ("optim.base_lrr=0.1", ["optim.base_lrr", "did you mean optim.base_lr"]),
    ("nosection.key=1", ["nosection"]),
    ("model.decoder_dim=abc", ["model.decoder_dim", "whole number"]),
    ("model.decoder_dim=2.5", ["model.decoder_dim", "whole number"]),
    ("data.shuffle=maybe", ["data.shuffle", "true or false"]),
    ("optim.base_lr=nan", ["optim.base_lr", "finite"]),
    ("optim.base_lr=1e999", ["optim.base_lr", "finite"]),
    ("model.asr_encoder.num_heads=2,x", ["model.asr_encoder.num_heads[1]"]),
    ("data.train_cuts=[1, 2", ["data.train_cuts", "YAML"]),
    ("optim.base_lr", ["optim.base_lr", "section.key=value"]),
    ("=3", ["=3", "dotted"]),
    ("model..decoder_dim=3", ["model..decoder_dim"]),
    ("model=3", ["model", "mapping"]),
])
def test_bad_override_names_the_key(capsys, override, names):
    user_error(run_cli(capsys, "config", "show", "tiny", "--set", override), *names)


@pytest.mark.hostile("silent")
@pytest.mark.parametrize(("override", "expected"), [
    ("optim.base_lr=1e-3", "base_lr: 0.001"),
    ("optim.lr_batches=5e2", "lr_batches: 500.0"),
    ("data.shuffle=yes", "shuffle: true"),
    ("model.asr_encoder.num_heads=[2, 2, 2, 2]", "num_heads:\n    - 2\n    - 2\n    - 2\n    - 2"),
])
def test_overrides_are_read_for_the_type_of_their_field(capsys, override, expected):
    outcome = run_cli(capsys, "config", "show", "tiny", "--set", override)
    succeeded(outcome)
    if expected not in outcome.out:
        fail("silent", f"--set {override} was not read as its field's type: expected {expected!r} in\n{outcome.out}")
