"""Config: defaults, inheritance, overrides, validation, YAML round trip."""

import re
from pathlib import Path

import pytest
import yaml

from hent_srt.config import (
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    preset_names,
    presets_dir,
)


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_are_the_published_system():
    c = Config()
    assert c.model.asr_encoder.encoder_dim == (192, 256, 384, 512, 384)
    assert c.model.st_encoder.downsampling_factor == (1, 2, 4, 4, 4)
    assert c.model.st_encoder.output_downsampling_factor == 1
    assert c.optim.clipping_scale == 2.0 and c.decode.beam == 20 and c.decode.blank_penalty_st == 1.0


def test_inheritance_merges_recursively(tmp_path):
    write(tmp_path / "parent.yaml", {"optim": {"base_lr": 0.03}, "model": {"st_encoder": {"num_heads": [4] * 5}}})
    child = write(tmp_path / "child.yaml", {"base": "parent", "model": {"st_encoder": {"pos_dim": 24}}})
    c = load_config(child)
    assert c.optim.base_lr == 0.03
    assert c.model.st_encoder.num_heads == (4,) * 5
    assert c.model.st_encoder.pos_dim == 24
    # untouched fields of the nested encoder keep the ST encoder's own defaults, not EncoderConfig's
    assert c.model.st_encoder.encoder_dim == (384, 512, 256, 256, 256)


def test_child_overrides_parent(tmp_path):
    write(tmp_path / "parent.yaml", {"optim": {"base_lr": 0.03, "lr_epochs": 3}})
    child = write(tmp_path / "child.yaml", {"base": "parent.yaml", "optim": {"base_lr": 0.01}})
    c = load_config(child)
    assert (c.optim.base_lr, c.optim.lr_epochs) == (0.01, 3.0)


def test_a_recipe_conf_may_extend_the_preset_of_its_own_name(tmp_path):
    conf = write(tmp_path / "hent_srt.yaml", {"base": "hent_srt", "optim": {"base_lr": 0.01}})
    c = load_config(conf)
    assert c.optim.base_lr == 0.01 and c.loss.warm_step == 10000 and c.decode.avg == 13


def test_inheritance_loop_is_an_error(tmp_path):
    write(tmp_path / "a.yaml", {"base": "b"})
    write(tmp_path / "b.yaml", {"base": "a"})
    with pytest.raises(ValueError, match="loop"):
        load_config(tmp_path / "a.yaml")


def test_dotted_overrides_and_tuples():
    c = load_config(None, ["model.st_encoder.num_encoder_layers=2,2", "optim.base_lr=0.03", "train.seed=7"])
    assert c.model.st_encoder.num_encoder_layers == (2, 2)
    assert c.optim.base_lr == 0.03 and c.train.seed == 7


def test_unknown_key_names_it_and_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        load_config(None, ["model.st_encoder.num_layerz=2"])
    assert "num_layerz" in str(err.value) and "num_encoder_layers" in str(err.value)
    with pytest.raises(ValueError, match="valid keys: model, loss"):
        config_from_dict({"modle": {}})


@pytest.mark.parametrize(
    "override, key",
    [("optim.base_lr=abc", "optim.base_lr"), ("train.seed=1.5", "train.seed"), ("model.use_ctc=3", "model.use_ctc"),
     ("model.asr_encoder.encoder_dim=1,x", "model.asr_encoder.encoder_dim[1]")],
)
def test_wrong_type_names_the_key(override, key):
    with pytest.raises(ValueError) as err:
        load_config(None, [override])
    assert repr(key) in str(err.value)


def test_yaml_round_trip(tmp_path):
    c = load_config(None, ["model.encoder_type=shared", "decode.beam=4"])
    text = dump_config(c)
    path = tmp_path / "resolved.yaml"
    path.write_text(text)
    assert load_config(path) == c
    assert config_from_dict(config_to_dict(c)) == c


def test_missing_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="not found"):
        load_config("no_such_preset_anywhere")


@pytest.mark.parametrize(
    "override, key, value",
    [
        ("optim.base_lr=1e-3", ("optim", "base_lr"), 1e-3),
        ("optim.base_lr=5E-4", ("optim", "base_lr"), 5e-4),
        ("optim.base_lr=.5", ("optim", "base_lr"), 0.5),
        ("optim.base_lr=2", ("optim", "base_lr"), 2.0),
        ("optim.lr_batches=1_000", ("optim", "lr_batches"), 1000.0),
        ("train.max_steps=1e4", ("train", "max_steps"), 10000),
        ("train.seed=-3", ("train", "seed"), -3),
        ("train.seed=0x10", ("train", "seed"), 16),
        ("data.shuffle=no", ("data", "shuffle"), False),
        ("data.shuffle=True", ("data", "shuffle"), True),
        ("data.shuffle=1", ("data", "shuffle"), True),
        ("data.shuffle=off", ("data", "shuffle"), False),
        ("train.amp=true", ("train", "amp"), "true"),  # a text field keeps the text
        ("data.train_cuts=1e3", ("data", "train_cuts"), "1e3"),
        ("model.tasks=[asr]", ("model", "tasks"), ("asr",)),
        ("model.tasks=asr, st", ("model", "tasks"), ("asr", "st")),
        ("optim.betas=[0.9, 9.8e-1]", ("optim", "betas"), (0.9, 0.98)),
        ("optim.betas=9e-1,0.98", ("optim", "betas"), (0.9, 0.98)),
        ("data.train_cuts='a=b'", ("data", "train_cuts"), "a=b"),
        ("data.train_cuts=", ("data", "train_cuts"), ""),
    ],
)
def test_override_values_in_every_notation(override, key, value):
    c = load_config(None, [override])
    got = getattr(getattr(c, key[0]), key[1])
    assert got == value and type(got) is type(value)


def test_yaml_numbers_that_pyyaml_reads_as_text_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  base_lr: 1e-3\ntrain:\n  num_epochs: 2.0\n")
    assert yaml.safe_load(path.read_text())["optim"]["base_lr"] == "1e-3"  # the YAML 1.1 quirk this works around
    c = load_config(path)
    assert c.optim.base_lr == 1e-3 and c.train.num_epochs == 2 and type(c.train.num_epochs) is int


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.base_lr=nan", "not a finite number"),
        ("optim.base_lr=inf", "not a finite number"),
        ("train.num_epochs=2.5", "use a whole number"),
        ("data.shuffle=maybe", "use true or false"),
        ("model.encoder_type=[1]", "expected str"),
        ("model.tasks=[asr", "not valid YAML"),
        ("optim..base_lr=1", "dotted names"),
        ("optim.base_lr", "must look like section.key=value"),
        ("optim.bas_lr=1", "did you mean optim.base_lr?"),
    ],
)
def test_bad_override_names_the_problem(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, [override])


@pytest.mark.parametrize(
    "text, where",
    [
        ("model:\n  tasks: [asr\n", ":3:1: YAML syntax error"),
        ("model:\n  encoder_type: hier\n   bad: indent\n", ":3:7: YAML syntax error"),
        ("optim:\n  base_lr: 1\n  base_lr: 2\n", ":3:3: key 'base_lr' is repeated"),
        ("- a list\n", ": a config file must hold a mapping"),
        ("base: [a, b]\n", "`base:` must name one preset"),
    ],
)
def test_bad_yaml_names_the_file_and_line(tmp_path, text, where):
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(str(path)) and where in str(err.value)


def test_non_utf8_yaml_names_the_line(tmp_path):
    path = tmp_path / "conf.yaml"
    path.write_bytes(b"optim:\n  # caf\xe9\n  base_lr: 1\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:2: not UTF-8 text (byte 0xe9)")):
        load_config(path)


def test_config_show_errors_exit_2_with_one_line(tmp_path, capsys):
    from hent_srt.cli import main

    path = tmp_path / "conf.yaml"
    path.write_text("model: {tasks: [asr}\n")
    assert main(["config", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hent-srt config: {path}:1:") and err.count("\n") == 1
    assert main(["config", "show", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_presets_resolve_from_the_source_tree_in_a_checkout():
    assert presets_dir() == Path(__file__).resolve().parents[1] / "recipes"
    assert {"hent_srt", "asr_pretrain", "tiny"} <= set(preset_names())
    with pytest.raises(ConfigError, match="preset name: asr_pretrain, hent_srt"):
        load_config("no_such_preset")
