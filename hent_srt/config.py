"""Typed experiment configuration: dataclasses, YAML presets with ``base:`` inheritance, dotted overrides.

Defaults equal the published HENT-SRT system (Hussein et al. 2025, arXiv 2506.02157; the model is described in
``docs/architecture.md``). A YAML file may name a ``base:`` preset: a file name in the same directory or one of
the presets shipped with the package (the repository's top-level ``recipes/``, installed as package data
``hent_srt/recipes``), with or without ``.yaml``; its own keys are merged over the base recursively. Overrides on
the command line use dotted keys: ``--set model.st_encoder.num_encoder_layers=2,2``. An override value is text
that the typed conversion reads for the field it sets (``1e-3`` and ``5e2`` are numbers, ``true``/``yes``/``1``
booleans, ``2,2`` or ``[2, 2]`` a tuple); a value in brackets or braces, or quoted, is parsed as YAML.

Validation: an unknown key or a value of the wrong type raises :class:`ConfigError` (a ``ValueError``) naming
the dotted key and listing the valid keys (or the expected type); a YAML syntax error or a repeated key names the
file, line and column.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib.resources
import math
import sys
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hent_srt.errors import UserError

PRESETS_RESOURCE = "recipes"  # hent_srt/recipes in an installed copy
SOURCE_RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


class ConfigError(UserError):
    """A config file or override that cannot be used; the message names the key or file and the fix."""


def presets_dir() -> Path:
    """The directory of the shipped presets.

    An installed wheel carries them as the package data ``hent_srt/recipes``; a source checkout (an editable
    install, or ``PYTHONPATH=.``) reads the repository's top-level ``recipes/``.
    """
    shipped = importlib.resources.files("hent_srt").joinpath(PRESETS_RESOURCE)
    if isinstance(shipped, Path) and shipped.is_dir() and any(shipped.glob("*.yaml")):
        return shipped
    return SOURCE_RECIPES_DIR


def preset_names() -> list[str]:
    """Names of the shipped presets (``hent-srt config show NAME``)."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


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
class SpecAugmentConfig:
    """SpecAugment settings (lhotse ``SpecAugment``) of the data path and of CR-CTC's two views.

    The defaults are the published ones (icefall's zipformer recipes, made for utterances of several seconds):
    a time warp of up to ``time_warp_factor`` frames (0: none), ``num_feature_masks`` frequency masks of up to
    ``features_mask_size`` bins, and up to ``num_frame_masks`` time masks of up to ``frames_mask_size`` frames that
    together cover at most ``max_frames_mask_fraction`` of an utterance's frames. CR-CTC's views multiply the
    number of time masks and their maximal share by ``loss.time_mask_ratio`` (published: 2.5).
    """

    time_warp_factor: int = 80
    num_feature_masks: int = 2
    features_mask_size: int = 27
    num_frame_masks: int = 10
    frames_mask_size: int = 100
    max_frames_mask_fraction: float = 0.15


@dataclass
class DataConfig:
    """Manifests, tokenizers, batching and augmentation.

    ``bucket_buffer_size`` cuts are held by the (lazy) bucketing sampler: its memory and the reach of its
    shuffling. ``musan_cuts`` (a fbank manifest of noise cuts; empty: no mixing) turns on noise mixing with
    probability ``musan_prob`` at an SNR drawn from ``musan_snr`` dB. ``spec_augment`` applies SpecAugment in the
    data path for models without CR-CTC views (with them the model masks its views; never both); ``masking``
    holds the masks of both.
    """

    train_cuts: str = ""
    valid_cuts: str = ""
    src_bpe_model: str = ""
    tgt_bpe_model: str = ""
    max_duration: float = 200.0
    num_buckets: int = 30
    bucket_buffer_size: int = 20000
    shuffle: bool = True
    on_the_fly_features: bool = False
    num_workers: int = 2
    min_utterance_duration: float = 0.2
    max_utterance_duration: float = 30.0
    musan_cuts: str = ""
    musan_prob: float = 0.5
    musan_snr: tuple[float, ...] = (10.0, 20.0)
    spec_augment: bool = True
    masking: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)


@dataclass
class TrainConfig:
    """Trainer settings.

    ``num_threads``: torch's intra-op CPU threads for the training (``torch.set_num_threads``); 0 keeps torch's
    default (``OMP_NUM_THREADS`` if set, else the cores). On CPU a run repeats bit for bit only at the same thread
    count: with another count the float sums of the kernels are added in another order, and the runs drift apart.
    """

    num_epochs: int = 25
    seed: int = 42
    num_threads: int = 0
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


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _parse_bool(text: str) -> bool | None:
    word = text.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _parse_float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def _parse_int(text: str) -> int | None:
    """``"10"``, ``"-3"``, ``"1_000"``, ``"0x10"`` and integral float notation (``"1e3"``, ``"2.0"``)."""
    try:
        return int(text.strip(), 0)
    except ValueError:
        number = _parse_float(text)
        return int(number) if number is not None and math.isfinite(number) and number.is_integer() else None


def _wrong_type(key: str, tp: Any, value: Any, hint: str = "") -> ConfigError:
    return ConfigError(f"config key {key!r}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__}){hint}")


def _convert_scalar(value: Any, tp: Any, key: str) -> Any:
    """``value`` (a YAML scalar, or override text) as ``tp`` (bool, int, float or str)."""
    if tp is str:
        if isinstance(value, str):
            return value
        raise _wrong_type(key, tp, value, "; quote it to keep it as text")
    if isinstance(value, str):
        parsed = {bool: _parse_bool, int: _parse_int, float: _parse_float}[tp](value)
        if parsed is None:
            hint = {bool: "; use true or false", int: "; use a whole number", float: "; use a number such as 1e-3"}
            raise _wrong_type(key, tp, value, hint[tp])
        value = parsed
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _wrong_type(key, tp, value, "; use true or false")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong_type(key, tp, value)
    if not math.isfinite(value):
        raise ConfigError(f"config key {key!r}: {value!r} is not a finite number; give a finite value")
    if tp is int:
        if isinstance(value, float) and not value.is_integer():
            raise _wrong_type(key, tp, value, "; use a whole number")
        return int(value)
    return float(value)


def _convert(value: Any, tp: Any, key: str, default: Any = None) -> Any:
    """Convert a YAML value (or override text) to the annotated type ``tp`` or raise ConfigError naming ``key``.

    For a nested dataclass, ``value`` is a partial mapping applied over ``default``.
    """
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _from_dict(tp, value, prefix=key, start=default)
    if typing.get_origin(tp) is tuple:
        (item_type, _) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_convert(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if tp in (bool, int, float, str):
        return _convert_scalar(value, tp, key)
    raise _wrong_type(key, tp, value)


def _from_dict(cls: type, data: dict[str, Any], prefix: str = "", start: Any = None) -> Any:
    """``start`` (default ``cls()``) with the fields named in ``data`` replaced, recursively."""
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_), key=str)
    if unknown:
        where = f"{prefix}." if prefix else ""
        close = difflib.get_close_matches(str(unknown[0]), list(types_), n=1)
        suggestion = f" (did you mean {where}{close[0]}?)" if close else ""
        raise ConfigError(
            f"unknown config key {where}{unknown[0]}{suggestion}; valid keys{' of ' + prefix if prefix else ''}: "
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
    """Find a preset: a path, or a name looked up next to ``relative_to`` and then among the shipped presets.

    ``exclude`` (the file naming the base) is skipped, so ``egs/x/conf/hent_srt.yaml`` may say ``base: hent_srt``
    and get the shipped ``hent_srt`` preset.
    """
    if not isinstance(name, (str, Path)) or not str(name).strip():
        raise ConfigError(f"config preset {name!r}: give a preset name ({', '.join(preset_names())}) or a YAML path")
    candidates = [Path(name)]
    stem = str(name) if str(name).endswith((".yaml", ".yml")) else f"{name}.yaml"
    if relative_to is not None:
        candidates.append(relative_to / stem)
    if len(Path(name).parts) == 1:  # a bare name may be a shipped preset; a path with directories is only a path
        candidates.append(presets_dir() / stem)
    for path in candidates:
        if path.is_file() and (exclude is None or path.resolve() != exclude.resolve()):
            return path
    if Path(name).is_dir():
        raise ConfigError(f"config {str(name)!r} is a directory; give a YAML file or a preset name")
    raise ConfigError(
        f"config preset {str(name)!r} not found (looked in: {', '.join(str(c) for c in candidates)}); "
        f"give a path to a YAML file or a preset name: {', '.join(preset_names())}"
    )


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key repeated in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                mark = key_node.start_mark
                raise ConfigError(
                    f"{mark.name}:{mark.line + 1}:{mark.column + 1}: key {key!r} is repeated in one mapping "
                    f"(first at line {seen[key].line + 1}); keep one of them"
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; syntax errors, repeated keys and non-UTF-8 bytes name the file and line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[err.start]:02x}); save the file as UTF-8"
        ) from err
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = ", ".join(p for p in (err.context, err.problem) if p)
        raise ConfigError(f"{where}: YAML syntax error: {problem}; fix the file there") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not a YAML file ({err}); fix the file") from err
    finally:
        loader.dispose()


def _load_yaml_tree(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"config inheritance loop: {chain}; remove one of the `base:` keys")
    data = _read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping at the top level (section: keys)")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: `base:` must name one preset or YAML file, got {base!r}")
    base_path = resolve_preset_path(base, relative_to=path.parent, exclude=path)
    return _deep_merge(_load_yaml_tree(base_path, (*seen, path)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.base_lr=1e-3"`` → (["optim", "base_lr"], "1e-3").

    The value stays text, read for the type of the field it sets (see :func:`_convert`); a value that starts
    with ``[``, ``{``, ``'`` or ``"`` is parsed as YAML (a list, a mapping, a quoted string).
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value (e.g. optim.base_lr=0.03)")
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise ConfigError(f"override {text!r}: the key must be dotted names, e.g. optim.base_lr=0.03")
    value = raw.strip()
    if value[:1] in ("[", "{", "'", '"'):
        try:
            return parts, yaml.safe_load(value)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or type(err).__name__
            raise ConfigError(f"override {text!r}: the value is not valid YAML ({problem}); quote it or fix it") from err
    return parts, value


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


def load_experiment_config(config: str | Path | None, exp_dir: Path, overrides: Iterable[str] = ()) -> Config:
    """The config of a command that reads an experiment: ``--config`` (a YAML path or a preset name) when given,
    else ``exp_dir/config.yaml``, with the dotted overrides. Raises ConfigError naming what is missing."""
    if config is not None:
        return load_config(config, overrides)
    path = exp_dir / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"config {path} not found; pass --config (a YAML file or a preset name) or an --exp-dir "
                          "holding config.yaml")
    return load_config(path, overrides)


def dump_config(config: Config) -> str:
    """The resolved config as YAML text."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


# ---------------------------------------------------------------------------------------------------------
# `hent-srt config show PRESET`


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["show"], help="show: print the resolved configuration")
    parser.add_argument("preset", nargs="?", help="a shipped preset name (recipes/) or a YAML path (default: defaults)")
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
    "DecodeConfig", "ConfigError", "load_config", "config_from_dict", "config_to_dict", "dump_config",
    "apply_overrides", "resolve_preset_path", "presets_dir", "preset_names",
]
