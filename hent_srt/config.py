"""Typed experiment configuration: dataclasses, YAML presets with ``base:`` inheritance, dotted overrides.

Defaults equal the published HENT-SRT system (Hussein et al. 2025; see ``shared/reference/zipformer2.md``).
A YAML file may name a ``base:`` preset (a file name in the same directory or in the source tree's ``recipes/``,
with or without ``.yaml``); its own keys are merged over the base recursively. Overrides on the command line use
dotted keys: ``--set model.st_encoder.num_encoder_layers=2,2``; values are parsed as YAML, and a comma-separated
string fills a tuple field.

Validation: an unknown key or a value of the wrong type raises ``ValueError`` naming the dotted key and listing
the valid keys (or the expected type).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


@dataclass
class EncoderConfig:
    """One Zipformer2 encoder; per-stack tuples have one entry per stack (icefall's names)."""

    num_encoder_layers: tuple[int, ...] = (2, 2, 2, 2, 2)
    downsampling_factor: tuple[int, ...] = (1, 2, 4, 8, 4)
    encoder_dim: tuple[int, ...] = (192, 256, 384, 512, 384)
    encoder_unmasked_dim: tuple[int, ...] = (192, 192, 256, 256, 256)
    num_heads: tuple[int, ...] = (4, 4, 4, 8, 8)
    feedforward_dim: tuple[int, ...] = (512, 768, 1024, 1024, 1024)
    cnn_module_kernel: tuple[int, ...] = (31, 31, 15, 15, 15)
    query_head_dim: int = 32
    value_head_dim: int = 12
    pos_head_dim: int = 4
    pos_dim: int = 48
    output_downsampling_factor: int = 2
    causal: bool = False
    chunk_size: tuple[int, ...] = (16, 32, 64, -1)
    left_context_frames: tuple[int, ...] = (64, 128, 256, -1)
    eval_chunk_size: int = 64
    eval_left_context_frames: int = 128


def _published_st_encoder() -> EncoderConfig:
    return EncoderConfig(
        num_encoder_layers=(2, 2, 2, 2, 2),
        downsampling_factor=(1, 2, 4, 4, 4),
        encoder_dim=(384, 512, 256, 256, 256),
        encoder_unmasked_dim=(256, 256, 256, 256, 192),
        num_heads=(8, 8, 8, 8, 8),
        feedforward_dim=(512, 512, 256, 256, 256),
        cnn_module_kernel=(15, 31, 31, 15, 15),
        output_downsampling_factor=1,
    )


@dataclass
class ModelConfig:
    """The HENT-SRT model: ``encoder_type`` is ``hier`` (ENC_st on an ENC_asr stack) or ``shared``.

    ``st_tap_stack`` is the index of the ENC_asr stack whose 50 Hz output ENC_st reads (published: -1, the last).
    """

    encoder_type: str = "hier"
    tasks: tuple[str, ...] = ("asr", "st")
    feature_dim: int = 80
    subsampling_channels: tuple[int, ...] = (8, 32, 128)
    asr_encoder: EncoderConfig = field(default_factory=EncoderConfig)
    st_encoder: EncoderConfig = field(default_factory=_published_st_encoder)
    st_tap_stack: int = -1
    predictor: str = "stateless"
    decoder_dim: int = 256
    joiner_dim: int = 256
    context_size: int = 2
    asr_vocab_size: int = 5000
    st_vocab_size: int = 4000
    use_ctc: bool = True


@dataclass
class LossConfig:
    """Loss composition per task (published stage 2 weights)."""

    prune_range_asr: int = 10
    prune_range_st: int = 10
    lm_scale: float = 0.25
    am_scale: float = 0.0
    simple_loss_scale: float = 0.5
    warm_step: int = 10000
    asr_scale: float = 1.0
    st_scale: float = 1.0
    ctc_scale_asr: float = 0.1
    ctc_scale_st: float = 0.1
    use_cr_ctc: bool = True
    cr_scale_asr: float = 0.05
    cr_scale_st: float = 0.05
    time_mask_ratio: float = 2.5


@dataclass
class OptimConfig:
    """ScaledAdam + Eden."""

    base_lr: float = 0.045
    betas: tuple[float, ...] = (0.9, 0.98)
    clipping_scale: float = 2.0
    lr_batches: float = 5000.0
    lr_epochs: float = 6.0
    warmup_batches: float = 500.0


@dataclass
class DataConfig:
    """Manifests, tokenizers and batching."""

    train_cuts: str = ""
    valid_cuts: str = ""
    src_bpe_model: str = ""
    tgt_bpe_model: str = ""
    max_duration: float = 200.0
    num_buckets: int = 30
    shuffle: bool = True
    on_the_fly_features: bool = False
    num_workers: int = 2
    min_utterance_duration: float = 0.2
    max_utterance_duration: float = 30.0


@dataclass
class TrainConfig:
    """Trainer settings."""

    num_epochs: int = 25
    seed: int = 42
    amp: str = "auto"
    ref_duration: float = 600.0
    save_every_n: int = 4000
    keep_last_k: int = 30
    average_period: int = 200
    log_interval: int = 50
    valid_interval: int = 3000
    valid_metrics_num_utts: int = 50
    valid_metrics_unit: str = "word"
    max_steps: int = 0
    max_consecutive_skips: int = 20
    find_unused_parameters: bool = True


@dataclass
class DecodeConfig:
    """Decoding settings (published offline system: modified beam search, beam 20, ST blank penalty 1)."""

    method: str = "modified_beam_search"
    beam: int = 20
    max_sym_per_frame: int = 1
    blank_penalty_asr: float = 0.0
    blank_penalty_st: float = 1.0
    epoch: int = 20
    avg: int = 13
    use_averaged_model: bool = True


@dataclass
class Config:
    """A whole experiment."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


# ---------------------------------------------------------------------------------------------------------
# dict <-> dataclass with validation


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


def _convert(value: Any, tp: Any, key: str, default: Any = None) -> Any:
    """Convert a YAML value to the annotated type ``tp`` or raise ValueError naming ``key``.

    For a nested dataclass, ``value`` is a partial mapping applied over ``default``.
    """
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"config key {key!r}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _from_dict(tp, value, prefix=key, start=default)
    if typing.get_origin(tp) is tuple:
        (item_type, _) = typing.get_args(tp)
        if isinstance(value, str):
            value = [yaml.safe_load(v) for v in value.split(",") if v.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_convert(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, str):
        return value
    raise ValueError(f"config key {key!r}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _from_dict(cls: type, data: dict[str, Any], prefix: str = "", start: Any = None) -> Any:
    """``start`` (default ``cls()``) with the fields named in ``data`` replaced, recursively."""
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ValueError(
            f"unknown config key {where}{unknown[0]}; valid keys{' of ' + prefix if prefix else ''}: "
            f"{', '.join(types_)}"
        )
    start = cls() if start is None else start
    changes = {
        name: _convert(value, types_[name], f"{prefix}.{name}" if prefix else name, getattr(start, name))
        for name, value in data.items()
    }
    return dataclasses.replace(start, **changes)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build a validated :class:`Config` from a (possibly partial) nested dict."""
    return _from_dict(Config, data)


def config_to_dict(config: Config) -> dict[str, Any]:
    """Nested plain dict (tuples as lists) suitable for YAML."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(config))


# ---------------------------------------------------------------------------------------------------------
# YAML presets and overrides


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_preset_path(name: str | Path, relative_to: Path | None = None, exclude: Path | None = None) -> Path:
    """Find a preset: a path, or a name looked up next to ``relative_to`` and then in ``recipes/``.

    ``exclude`` (the file naming the base) is skipped, so ``egs/x/conf/hent_srt.yaml`` may say ``base: hent_srt``
    and get ``recipes/hent_srt.yaml``.
    """
    candidates = [Path(name)]
    stem = str(name) if str(name).endswith((".yaml", ".yml")) else f"{name}.yaml"
    if relative_to is not None:
        candidates.append(relative_to / stem)
    candidates.append(RECIPES_DIR / stem)
    for path in candidates:
        if path.is_file() and (exclude is None or path.resolve() != exclude.resolve()):
            return path
    raise ValueError(
        f"config preset {str(name)!r} not found (looked in: {', '.join(str(c) for c in candidates)}); "
        f"give a path to a YAML file or a preset name from {RECIPES_DIR}"
    )


def _load_yaml_tree(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ValueError(f"config inheritance loop: {chain}; remove one of the `base:` keys")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    base_path = resolve_preset_path(base, relative_to=path.parent, exclude=path)
    return _deep_merge(_load_yaml_tree(base_path, (*seen, path)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"model.st_encoder.num_encoder_layers=2,2"`` → (["model", "st_encoder", ...], "2,2" parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value (e.g. optim.base_lr=0.03)")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ValueError(f"override {text!r} has an empty key")
    return parts, yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return ``data`` with each dotted override applied (validation happens in :func:`config_from_dict`)."""
    out = _deep_merge({}, data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Load a YAML config (with ``base:`` inheritance), apply dotted overrides, validate."""
    data = _load_yaml_tree(resolve_preset_path(path)) if path is not None else {}
    return config_from_dict(apply_overrides(data, overrides))


def dump_config(config: Config) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


# ---------------------------------------------------------------------------------------------------------
# `hent-srt config show PRESET`


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show"], help="show: print the resolved configuration")
    parser.add_argument("preset", nargs="?", help="preset name in recipes/ or a YAML path (default: defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted override, e.g. --set model.st_encoder.num_encoder_layers=2,2")


def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.preset, args.overrides)
    except ValueError as err:
        print(f"hent-srt config: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(dump_config(config))
    return 0


__all__ = [
    "Config", "ModelConfig", "EncoderConfig", "LossConfig", "OptimConfig", "DataConfig", "TrainConfig",
    "DecodeConfig", "load_config", "config_from_dict", "config_to_dict", "dump_config", "apply_overrides",
    "resolve_preset_path",
]
