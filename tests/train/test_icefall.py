"""icefall checkpoints: the name table, every checkpoint format at the published sizes (tensor names and shapes from
the key tables of icefall's four published models, parameter totals from their last line), icefall's averaging on
a hand-built example, named errors, safe loading, the import command, and ``--init-from`` refusals."""

from __future__ import annotations

import ast
import dataclasses
import gzip
import json
import os
import pathlib
from pathlib import Path

import pytest
import torch

from hent_srt import cli
from hent_srt.config import EncoderConfig, ModelConfig, load_config
from hent_srt.decode.decode import load_model
from hent_srt.model.arch import config_differences, shapes_of
from hent_srt.model.hent import build_model
from hent_srt.train.checkpoint import load_checkpoint, save_checkpoint
from hent_srt.train.icefall import (
    NAME_TABLE,
    import_checkpoint,
    is_icefall_named,
    to_hent_names,
    to_icefall_names,
)
from hent_srt.train.trainer import Trainer
from hent_srt.train.weights import read_weights

# Names, shapes and dtypes of the state dicts of icefall's four published models (built with icefall's code and the
# flags of its RESULTS.md; the header names the commit and flags), last line the parameter total.
TABLES = Path(__file__).with_name("icefall_keys")

# table -> (published preset and overrides of the same model, tensors, parameters as stated in the issue)
PUBLISHED = {
    "hent_srt": (("hent_srt", []), 942, 73_108_680),
    "hent_srt_causal": (("hent_srt_streaming", []), 1062, 73_832_392),
    "nt_shared": (("nt_shared", []), 759, 66_138_139),
    "nt_shared_causal": (("nt_shared", ["model.asr_encoder.causal=true"]), 855, 66_741_531),
}


FORMATS = ("pretrained", "bare", "epoch_model_avg", "exp_dir", "ddp_prefix")


def read_table(name: str) -> tuple[dict[str, tuple[int, ...]], int]:
    """(icefall name -> shape, total parameters) of one key table."""
    shapes, total = {}, None
    for line in gzip.decompress((TABLES / f"{name}.keys.tsv.gz").read_bytes()).decode().splitlines():
        if line.startswith("TOTAL_PARAMETERS"):
            total = int(line.split("\t")[1])
        elif line and not line.startswith("#"):
            tensor, shape, dtype = line.split("\t")
            assert dtype == "float32"
            shapes[tensor] = tuple(ast.literal_eval(shape))
    return shapes, total


def random_state(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Tensors of exactly these names and shapes; each holds one random value (stored once: a zero-stride
    expansion), so a 73 M-parameter checkpoint takes kilobytes and names stay distinguishable by value."""
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn((), generator=g).expand(shape) for name, shape in shapes.items()}


def constant_map(state: dict[str, torch.Tensor], fn) -> dict[str, torch.Tensor]:
    """``fn`` applied to the one value of each tensor of :func:`random_state`, kept in the same compact form."""
    return {name: fn(v.reshape(-1)[0]).expand(v.shape) for name, v in state.items()}


def icefall_params() -> dict:
    """Non-tensor entries icefall puts in epoch-N.pt: training options (with paths), sampler and optimizer state."""
    return {"exp_dir": pathlib.PosixPath("hent_srt/exp-st"), "bpe_model": "data/lang_bpe_5000/bpe.model",
            "best_valid_loss": float("inf"), "env_info": {"torch-version": "2.3"}, "optimizer": None,
            "sampler": {"epoch": 3, "world_size": 4, "diagnostics": {"num_kept_batches": 7}}, "average_period": 200}


@dataclasses.dataclass
class Case:
    """A checkpoint in one format and the state dict (icefall names, float32) an import must produce."""

    sources: list[Path]
    options: dict
    expected: dict[str, torch.Tensor]


def write_format(fmt: str, root: Path, state: dict[str, torch.Tensor]) -> Case:
    root.mkdir(parents=True, exist_ok=True)
    if fmt == "pretrained":
        torch.save({"model": state}, root / "pretrained.pt")
        return Case([root / "pretrained.pt"], {}, state)
    if fmt == "bare":
        torch.save(state, root / "model.pt")
        return Case([root / "model.pt"], {}, state)
    if fmt == "ddp_prefix":
        torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "batch_idx_train": 5, **icefall_params()},
                   root / "epoch-5.pt")
        return Case([root / "epoch-5.pt"], {}, state)
    other = constant_map(state, lambda v: v * 0.5)
    if fmt == "epoch_model_avg":
        torch.save({"model": other, "model_avg": state, "batch_idx_train": 900, **icefall_params()},
                   root / "best-valid-loss.pt")
        return Case([root / "best-valid-loss.pt"], {"use_averaged_model": True}, state)
    torch.save({"model": other, "model_avg": other, "batch_idx_train": 100, **icefall_params()}, root / "epoch-1.pt")
    torch.save({"model": state, "model_avg": state, "batch_idx_train": 300, **icefall_params()}, root / "epoch-2.pt")
    if fmt == "exp_dir":
        return Case([root], {"epoch": 2, "avg": 1}, state)
    # the averaged model after epoch 1: model_avg_2 with weight 300/200 plus model_avg_1 with weight -100/200
    expected = constant_map(state, lambda v: (v.double() * 1.5 - (v * 0.5).double() * 0.5).float())
    return Case([root], {"epoch": 2, "avg": 1, "use_averaged_model": True}, expected)


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    """Per table: its shapes, total, a random icefall state and the meta-device model of its published preset."""
    cache = {}

    def get(name: str):
        if name not in cache:
            shapes, total = read_table(name)
            (preset, overrides), _, _ = PUBLISHED[name]
            with torch.device("meta"):
                model = build_model(load_config(preset, overrides).model)
            cache[name] = (shapes, total, random_state(shapes, seed=len(cache)), model,
                           tmp_path_factory.mktemp(name))
        return cache[name]

    return get


def test_name_table_is_one_table_read_both_ways():
    olds, news = [o for o, _ in NAME_TABLE], [n for _, n in NAME_TABLE]
    for column in (olds, news):
        assert not any(a != b and b.startswith(a) for a in column for b in column), "a prefix would shadow another"
    for name, (_, tensors, parameters) in PUBLISHED.items():
        shapes, total = read_table(name)
        assert (len(shapes), total) == (tensors, parameters)
        state = dict.fromkeys(shapes, torch.zeros(()))
        hent, unmatched = to_hent_names(state)
        assert not unmatched and is_icefall_named(hent.keys()) is False and is_icefall_named(shapes)
        back, unmatched = to_icefall_names(hent)
        assert not unmatched and list(back) == list(shapes)


@pytest.mark.parametrize(("table", "fmt"), [(t, f) for t in PUBLISHED for f in FORMATS] + [
    ("hent_srt", "exp_dir_averaged")])  # icefall's averaging of 73 M parameters takes seconds: one table
def test_every_format_imports_at_the_published_size(table, fmt, published):
    """Import infers the published config (that of the preset of the same model, and the table's parameter
    total), every tensor lands where the name table says, and the result loads strictly."""
    shapes, total, state, meta_model, root = published(table)
    case = write_format(fmt, root / fmt, state)
    imported = import_checkpoint(case.sources, **case.options)
    assert imported.report["tensors"] == len(shapes) and imported.report["parameters"] == total
    assert config_differences(load_config(*PUBLISHED[table][0]).model, imported.config.model) == []
    assert shapes_of(meta_model.state_dict()) == shapes_of(imported.state)
    expected, _ = to_hent_names(case.expected)
    assert list(imported.state) == list(expected)
    for name, value in imported.state.items():  # one value per tensor: checks where each tensor landed
        assert value.dtype == torch.float32 and value.shape == expected[name].shape, name
        assert torch.equal(value.reshape(-1)[:1], expected[name].reshape(-1)[:1]), name
    meta_model.load_state_dict(imported.state, strict=True, assign=True)


def write_epochs(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    save_checkpoint(root / "epoch-1.pt", model={"w": torch.tensor([0.0, 2.0])}, model_avg={"w": torch.tensor([1.0, 1.0])},
                    batch_idx_train=100)
    save_checkpoint(root / "epoch-2.pt", model={"w": torch.tensor([2.0, 4.0])}, model_avg={"w": torch.tensor([3.0, 5.0])},
                    batch_idx_train=300)


def test_icefall_averaging_on_a_hand_built_example(tmp_path):
    write_epochs(tmp_path)
    # (model_avg_2 * 300 - model_avg_1 * 100) / (300 - 100) = ([900, 1500] - [100, 100]) / 200
    averaged = read_weights(tmp_path, epoch=2, avg=1, use_averaged_model=True)
    assert torch.equal(averaged.state["w"], torch.tensor([4.0, 7.0]))
    assert averaged.batch_idx_train == {"epoch-1.pt": 100, "epoch-2.pt": 300}
    assert torch.equal(read_weights(tmp_path, epoch=2, avg=2).state["w"], torch.tensor([1.0, 3.0]))
    assert torch.equal(read_weights(tmp_path, epoch=2, avg=1).state["w"], torch.tensor([2.0, 4.0]))
    assert torch.equal(read_weights(tmp_path / "epoch-2.pt", use_averaged_model=True).state["w"],
                       torch.tensor([3.0, 5.0]))
    files = [tmp_path / "epoch-1.pt", tmp_path / "epoch-2.pt"]
    assert torch.equal(read_weights(files, use_averaged_model=True).state["w"], torch.tensor([4.0, 7.0]))
    with pytest.raises(ValueError, match="--avg 2"):
        read_weights(tmp_path, epoch=2, avg=2, use_averaged_model=True)
    with pytest.raises(ValueError, match="epoch-3.pt"):
        read_weights(tmp_path, epoch=3, avg=1)


def test_a_wrong_shape_tensor_is_named_with_both_shapes(tmp_path):
    shapes, _ = read_table("hent_srt")
    name = "encoder.encoders.2.encoder.layers.1.feed_forward2.in_proj.weight"
    assert shapes[name] == (1024, 384)
    state = random_state(dict(shapes, **{name: (1000, 384)}), seed=1)
    torch.save({"model": state}, tmp_path / "pretrained.pt")
    with pytest.raises(ValueError, match=rf"{name} expected shape \(1024, 384\), found \(1000, 384\)"):
        import_checkpoint([tmp_path / "pretrained.pt"])
    # against a config: the fields the tensors contradict come first (here: an ASR vocabulary of 500, not 5000)
    state = random_state({k: tuple(500 if d == 5000 else d for d in s) for k, s in shapes.items()}, seed=1)
    del state["st_ctc_output.1.bias"]
    state["hat_proj.weight"] = torch.zeros(3)
    torch.save({"model": state}, tmp_path / "pretrained.pt")
    with pytest.raises(ValueError) as err:
        import_checkpoint([tmp_path / "pretrained.pt"], config="hent_srt")
    message = str(err.value)
    assert "model.asr_vocab_size is 5000 in the config but 500 in the checkpoint" in message
    assert "decoder.embedding.weight expected shape (5000, 256), found (500, 256)" in message
    assert "unknown keys (in the checkpoint, not in the model): hat_proj.weight" in message
    assert "missing keys (in the model, not in the checkpoint): st_ctc_output.1.bias" in message


def test_a_crafted_pickle_is_refused_without_running(tmp_path):
    target = tmp_path / "created-by-the-pickle"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(target),)

    torch.save({"model": {"w": torch.zeros(1)}, "params": Payload()}, tmp_path / "epoch-1.pt")
    for call in (lambda: import_checkpoint([tmp_path / "epoch-1.pt"]), lambda: load_checkpoint(tmp_path / "epoch-1.pt")):
        with pytest.raises(ValueError, match="refused.*posix.mkdir"):
            call()
    assert not target.exists()


def micro_encoder(num_stacks: int) -> EncoderConfig:
    return EncoderConfig(num_encoder_layers=(1,) * num_stacks, downsampling_factor=(1, 2, 2)[:num_stacks],
                         encoder_dim=(32,) * num_stacks, encoder_unmasked_dim=(32,) * num_stacks,
                         num_heads=(2,) * num_stacks, feedforward_dim=(48,) * num_stacks,
                         cnn_module_kernel=(7,) * num_stacks, query_head_dim=8, value_head_dim=8, pos_head_dim=4,
                         pos_dim=16)


def micro_model(**changes) -> torch.nn.Module:
    cfg = ModelConfig(subsampling_channels=(4, 8, 16), asr_encoder=micro_encoder(2), st_encoder=micro_encoder(1),
                      decoder_dim=24, joiner_dim=24, asr_vocab_size=30, st_vocab_size=20)
    return build_model(dataclasses.replace(cfg, **changes))


def test_import_command_round_trips_a_tiny_icefall_checkpoint(tmp_path, capsys):
    torch.manual_seed(0)
    model = micro_model()
    icefall_state, unmatched = to_icefall_names(model.state_dict())
    assert not unmatched and not any(k.startswith("heads.") for k in icefall_state)
    torch.save({"model": icefall_state, "model_avg": icefall_state, "batch_idx_train": 10, **icefall_params()},
               tmp_path / "epoch-3.pt")
    out = tmp_path / "imported"
    code = cli.main(["import-icefall", "--checkpoint", str(tmp_path / "epoch-3.pt"), "--out-dir", str(out),
                     "--set", "model.asr_encoder.encoder_unmasked_dim=32,32"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "HENT-SRT: " in printed and f"{sum(p.numel() for p in model.parameters()):,} parameters" in printed
    saved = torch.load(out / "pretrained.pt", weights_only=True)
    assert list(saved) == ["model"] and list(saved["model"]) == list(model.state_dict())
    for name, value in model.state_dict().items():
        assert torch.equal(saved["model"][name], value), name
    report = json.loads((out / "import.json").read_text())
    assert report["tensors"] == len(icefall_state) and report["read"]["how"] == "the 'model' entry of epoch-3.pt"
    config = load_config(out / "config.yaml")
    assert config.decode.beam == 20 and config.decode.blank_penalty_st == 1.0
    loaded = load_model(config, out / "pretrained.pt", torch.device("cpu"))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert cli.main(["config", "show", str(out / "config.yaml")]) == 0
    # an ASR tokenizer that does not fit the ASR head is refused before anything is written
    code = cli.main(["import-icefall", "--checkpoint", str(tmp_path / "epoch-3.pt"), "--out-dir", str(tmp_path / "x"),
                     "--bpe-model", str(tmp_path / "missing.model")])
    assert code == 2 and "missing.model" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_init_from_refuses_a_checkpoint_of_another_model(tmp_path):
    torch.manual_seed(0)
    other = micro_model(asr_encoder=dataclasses.replace(micro_encoder(2), encoder_dim=(48, 48),
                                                        encoder_unmasked_dim=(48, 48)))
    model = micro_model()
    with pytest.raises(ValueError, match=r"not an earlier stage.*of its \d+ encoder tensors.*--init-allow-partial"):
        model.init_from(other.state_dict())
    with pytest.raises(ValueError, match="0 of the checkpoint's 1 tensors"):
        model.init_from({"unrelated.weight": torch.zeros(2)})
    report = model.init_from(other.state_dict(), allow_partial=True)
    assert report["loaded"] and report["skipped"]
    # through the trainer (what `hent-srt train --init-from` calls; main turns the ValueError into exit 2)
    save_checkpoint(tmp_path / "other.pt", model=other.state_dict())
    trainer = Trainer(load_config("tiny"), micro_model(), None, None, tmp_path / "exp")
    with pytest.raises(ValueError, match="not an earlier stage"):
        trainer.init_from(tmp_path / "other.pt")
    trainer.init_from(tmp_path / "other.pt", allow_partial=True)
    # an icefall-named checkpoint (renamed) and an import directory (its pretrained.pt) initialise fully
    source = micro_model()
    icefall_state, _ = to_icefall_names(source.state_dict())
    torch.save({"model": icefall_state}, tmp_path / "icefall.pt")
    trainer.init_from(tmp_path / "icefall.pt")
    assert all(torch.equal(trainer.raw_model.state_dict()[k], v) for k, v in source.state_dict().items())
    (tmp_path / "imported").mkdir()
    save_checkpoint(tmp_path / "imported" / "pretrained.pt", model=other.state_dict())
    with pytest.raises(ValueError, match="not an earlier stage"):
        trainer.init_from(tmp_path / "imported")
