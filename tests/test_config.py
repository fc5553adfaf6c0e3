"""Config: defaults, inheritance, overrides, validation, YAML round trip."""

import pytest
import yaml

from hent_srt.config import Config, config_from_dict, config_to_dict, dump_config, load_config


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
