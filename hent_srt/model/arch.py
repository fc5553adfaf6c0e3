"""The architecture of a HENT-SRT / NT-Shared model read from the shapes of its state dict (hent-srt names), and
why a state dict does not fit a config.

What the tensors show, per Zipformer2 encoder (``encoder.`` = ENC_asr, ``st_encoder.`` = ENC_st) and stack i:

- the stacks and their layers (``encoders.i[.encoder].layers.L``);
- ``downsampling_factor[i]``: a stack with a factor > 1 wraps its layers in a downsampler whose ``bias`` holds one
  weight per frame of the window (shape ``(factor,)``); a factor-1 stack has none. ``output_downsampling_factor``
  is the length of ``downsample_output.bias`` the same way;
- ``encoder_dim[i]`` (``norm.bias``), ``feedforward_dim[i]`` (``feed_forward2.in_proj``: (ff, dim)),
  ``cnn_module_kernel[i]`` (the depthwise convolution's last axis), ``causal`` (a causal convolution module has
  ``chunkwise_conv`` weights), ``pos_dim`` (``linear_pos``: (heads · pos_head_dim, pos_dim));
- the attention products ``heads · pos_head_dim`` (``linear_pos``), ``heads · (2 · query_head_dim +
  pos_head_dim)`` (``self_attn_weights.in_proj``) and ``heads · value_head_dim`` (``self_attn1.in_proj``).

Not in the tensors, so taken from the base config (``--config``, or the published preset of the detected model
family): ``pos_head_dim`` (the heads are the first product divided by it, and the query and value head dims
follow; published 4), ``encoder_unmasked_dim`` (used only by training's feature masking), ``st_tap_stack`` (the
ST encoder's input has no weights), the training chunk lists and the evaluation chunking of causal encoders,
``feature_dim`` (the front end's output width fixes it only to within 4 bins; hent-srt's fbank has 80).

Per task head (``heads.<task>.``): the vocabulary (joiner output rows), ``decoder_dim`` and ``context_size``
(the predictor's embedding and convolution), ``joiner_dim``, and whether it has a CTC head.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from hent_srt.config import EncoderConfig, ModelConfig
from hent_srt.model.hent import TASKS, build_model

__all__ = [
    "Fit",
    "NOT_INFERRED",
    "check_fits",
    "config_differences",
    "expected_shapes",
    "fit_of",
    "infer_model_config",
    "model_size",
    "not_inferred_values",
    "shapes_of",
]

Shapes = Mapping[str, tuple[int, ...]]

# Fields of a model config that the tensors do not show (module docstring); <encoder> stands for each encoder.
NOT_INFERRED = (
    "feature_dim", "st_tap_stack", "<encoder>.pos_head_dim", "<encoder>.encoder_unmasked_dim", "<encoder>.chunk_size",
    "<encoder>.left_context_frames", "<encoder>.eval_chunk_size", "<encoder>.eval_left_context_frames",
)


def shapes_of(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of a state dict."""
    return {name: tuple(value.shape) for name, value in state.items()}


class _Reader:
    """Shape look-ups that name the missing tensor and the config field being inferred."""

    def __init__(self, shapes: Shapes) -> None:
        self.shapes = shapes

    def __call__(self, name: str, what: str) -> tuple[int, ...]:
        if name not in self.shapes:
            raise ValueError(
                f"cannot infer {what}: the checkpoint has no tensor {name}; it is not a HENT-SRT / NT-Shared "
                "Zipformer2 model in the expected layout, or pass --config with its architecture"
            )
        return self.shapes[name]


def _stack_layout(shapes: Shapes, prefix: str) -> list[tuple[str, int]]:
    """(layer prefix, downsampling factor) of each stack of the encoder whose names start with ``prefix``."""
    pattern = re.compile(rf"^{re.escape(prefix)}encoders\.(\d+)\.")
    stacks = sorted({int(m.group(1)) for name in shapes if (m := pattern.match(name))})
    if stacks != list(range(len(stacks))):
        raise ValueError(f"cannot infer the stacks of {prefix}: found stacks {stacks}, expected 0..{len(stacks) - 1}")
    layout = []
    for i in stacks:
        downsample = f"{prefix}encoders.{i}.downsample.bias"
        if downsample in shapes:
            layout.append((f"{prefix}encoders.{i}.encoder.layers.", shapes[downsample][0]))
        else:
            layout.append((f"{prefix}encoders.{i}.layers.", 1))
    return layout


def _count_layers(shapes: Shapes, layer_prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(layer_prefix)}(\d+)\.")
    layers = {int(m.group(1)) for name in shapes if (m := pattern.match(name))}
    if layers != set(range(len(layers))) or not layers:
        raise ValueError(f"cannot infer the layers under {layer_prefix}: found {sorted(layers)}")
    return len(layers)


def _one(values: list[Any], what: str) -> Any:
    if len(set(values)) != 1:
        raise ValueError(
            f"{what} differs between stacks ({values}) but hent-srt has one value per encoder; pass --config "
            "if the model fits one"
        )
    return values[0]


def _divide(total: int, part: int, what: str) -> int:
    if part < 1 or total % part:
        raise ValueError(f"cannot infer {what}: {total} is not a multiple of {part}; pass --config with the head dims")
    return total // part


def _infer_encoder(shapes: Shapes, prefix: str, base: EncoderConfig, field_name: str) -> EncoderConfig:
    read = _Reader(shapes)
    layout = _stack_layout(shapes, prefix)
    if not layout:
        raise ValueError(f"cannot infer {field_name}: the checkpoint has no {prefix}encoders.* tensors")
    p = base.pos_head_dim
    dims, layers, ffs, kernels, heads, causal, queries, values, pos_dims = ([] for _ in range(9))
    for i, (lp, _) in enumerate(layout):
        what = f"{field_name} stack {i}"
        layers.append(_count_layers(shapes, lp))
        first = f"{lp}0."
        dims.append(read(f"{first}norm.bias", f"{what} encoder_dim")[0])
        ffs.append(read(f"{first}feed_forward2.in_proj.weight", f"{what} feedforward_dim")[0])
        is_causal = f"{first}conv_module1.depthwise_conv.chunkwise_conv.weight" in shapes
        conv = f"{first}conv_module1.depthwise_conv." + ("chunkwise_conv.weight" if is_causal else "weight")
        kernels.append(read(conv, f"{what} cnn_module_kernel")[-1])
        causal.append(is_causal)
        pos_rows, pos_dim = read(f"{first}self_attn_weights.linear_pos.weight", f"{what} num_heads")
        h = _divide(pos_rows, p, f"{what} num_heads (linear_pos rows {pos_rows} / pos_head_dim {p})")
        heads.append(h)
        pos_dims.append(pos_dim)
        in_rows = read(f"{first}self_attn_weights.in_proj.weight", f"{what} query_head_dim")[0]
        queries.append((_divide(in_rows, h, f"{what} query_head_dim") - p) // 2)
        values.append(_divide(read(f"{first}self_attn1.in_proj.weight", f"{what} value_head_dim")[0], h,
                              f"{what} value_head_dim"))
    n = len(layout)
    unmasked = tuple(base.encoder_unmasked_dim)
    if len(unmasked) != n or any(u > d for u, d in zip(unmasked, dims)):
        unmasked = tuple(dims)
    return dataclasses.replace(
        base,
        num_encoder_layers=tuple(layers),
        downsampling_factor=tuple(ds for _, ds in layout),
        encoder_dim=tuple(dims),
        encoder_unmasked_dim=unmasked,
        num_heads=tuple(heads),
        feedforward_dim=tuple(ffs),
        cnn_module_kernel=tuple(kernels),
        query_head_dim=_one(queries, f"{field_name}.query_head_dim"),
        value_head_dim=_one(values, f"{field_name}.value_head_dim"),
        pos_dim=_one(pos_dims, f"{field_name}.pos_dim"),
        output_downsampling_factor=read(f"{prefix}downsample_output.bias", f"{field_name}.output_downsampling_factor")[0],
        causal=_one(causal, f"{field_name}.causal"),
    )


def _head_fields(shapes: Shapes, task: str, base: ModelConfig) -> dict[str, Any]:
    read = _Reader(shapes)
    head = f"heads.{task}."
    vocab = read(f"{head}joiner.output_linear.weight", f"model.{task}_vocab_size")[0]
    fields: dict[str, Any] = {
        f"{task}_vocab_size": vocab,
        "joiner_dim": read(f"{head}joiner.encoder_proj.weight", "model.joiner_dim")[0],
        "decoder_dim": read(f"{head}predictor.embedding.weight", "model.decoder_dim")[1],
        "use_ctc": f"{head}ctc_output.1.weight" in shapes,
    }
    if f"{head}predictor.lstm.weight_ih_l0" in shapes:
        fields["predictor"], fields["context_size"] = "lstm", base.context_size
    else:
        conv = shapes.get(f"{head}predictor.conv.weight")
        fields["predictor"], fields["context_size"] = "stateless", conv[2] if conv is not None else 1
    return fields


def infer_model_config(shapes: Shapes, base: ModelConfig) -> ModelConfig:
    """The model config whose tensors have ``shapes`` (hent-srt names); fields the tensors do not show
    (:data:`NOT_INFERRED`) come from ``base``. Raises ValueError naming the tensor or field when the shapes do not
    describe a model hent-srt can build."""
    read = _Reader(shapes)
    tasks = tuple(t for t in TASKS if f"heads.{t}.joiner.output_linear.weight" in shapes)
    if not tasks:
        raise ValueError("cannot infer model.tasks: the checkpoint has no heads.<task>.joiner.output_linear.weight")
    per_task = {t: _head_fields(shapes, t, base) for t in tasks}
    shared: dict[str, Any] = {}
    for key in ("joiner_dim", "decoder_dim", "use_ctc", "predictor", "context_size"):
        shared[key] = _one([per_task[t][key] for t in tasks], f"model.{key} (per task head)")
    hierarchical = any(name.startswith("st_encoder.") for name in shapes)
    channels = tuple(read(f"encoder_embed.conv.{i}.weight", "model.subsampling_channels")[0] for i in (0, 4, 7))
    cfg = dataclasses.replace(
        base,
        tasks=tasks,
        encoder_type="hier" if hierarchical else ("shared" if "st" in tasks else base.encoder_type),
        subsampling_channels=channels,
        asr_encoder=_infer_encoder(shapes, "encoder.", base.asr_encoder, "model.asr_encoder"),
        **shared,
        **{f"{t}_vocab_size": per_task[t][f"{t}_vocab_size"] for t in tasks},
    )
    if hierarchical:
        cfg = dataclasses.replace(cfg, st_encoder=_infer_encoder(shapes, "st_encoder.", base.st_encoder,
                                                                 "model.st_encoder"))
    return cfg


def _meta_model(cfg: ModelConfig) -> torch.nn.Module:
    """The model of ``cfg`` on the meta device (shapes without memory)."""
    with torch.device("meta"):
        return build_model(cfg)


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of the state dict of the model ``cfg`` describes."""
    return shapes_of(_meta_model(cfg).state_dict())


def model_size(cfg: ModelConfig) -> tuple[dict[str, tuple[int, ...]], int]:
    """``({name: shape}, number of parameters)`` of the model ``cfg`` describes."""
    model = _meta_model(cfg)
    return shapes_of(model.state_dict()), sum(p.numel() for p in model.parameters())


def not_inferred_values(cfg: ModelConfig) -> dict[str, Any]:
    """``{"model.<field>": value}`` of the :data:`NOT_INFERRED` fields of ``cfg`` (the encoders it has)."""
    encoders = ["asr_encoder"] + (["st_encoder"] if cfg.encoder_type == "hier" and "st" in cfg.tasks else [])
    out = {}
    for key in NOT_INFERRED:
        for name in encoders if key.startswith("<encoder>.") else [None]:
            dotted = key.replace("<encoder>", name) if name else key
            value: Any = cfg
            for part in dotted.split("."):
                value = getattr(value, part)
            out[f"model.{dotted}"] = list(value) if isinstance(value, tuple) else value
    return out


@dataclass
class Fit:
    """How a state dict's names and shapes compare with a model's: ``unknown`` (in the state dict only),
    ``missing`` (in the model only), ``mismatched`` ((name, expected shape, found shape), model order)."""

    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unknown or self.missing or self.mismatched)

    def describe(self, limit: int = 5, display: Callable[[str], str] = str) -> str:
        """The first disagreeing tensor, then counts and the first names of the unknown and missing keys;
        ``display`` maps a name to the one shown (e.g. back to the checkpoint's own naming)."""
        parts = []
        if self.mismatched:
            name, expected, found = self.mismatched[0]
            parts.append(f"first tensor that differs: {display(name)} expected shape {expected}, found {found} "
                         f"({len(self.mismatched)} differ)")
        for label, names in (("unknown keys (in the checkpoint, not in the model)", self.unknown),
                             ("missing keys (in the model, not in the checkpoint)", self.missing)):
            if names:
                more = f", ... ({len(names)} in all)" if len(names) > limit else ""
                parts.append(f"{label}: {', '.join(display(n) for n in names[:limit])}{more}")
        return "; ".join(parts)


def fit_of(expected: Shapes, found: Shapes) -> Fit:
    """Compare the ``found`` names and shapes with the ``expected`` ones."""
    return Fit(
        unknown=[n for n in found if n not in expected],
        missing=[n for n in expected if n not in found],
        mismatched=[(n, tuple(s), tuple(found[n])) for n, s in expected.items() if n in found and
                    tuple(found[n]) != tuple(s)],
    )


def config_differences(ours: Any, theirs: Any, prefix: str = "model") -> list[tuple[str, Any, Any]]:
    """(dotted key, ours, theirs) for every leaf field in which two configs (dataclasses) differ."""
    out = []
    for f in dataclasses.fields(ours):
        a, b = getattr(ours, f.name), getattr(theirs, f.name)
        key = f"{prefix}.{f.name}"
        if dataclasses.is_dataclass(a):
            out += config_differences(a, b, key)
        elif a != b:
            out.append((key, a, b))
    return out


def check_fits(cfg: ModelConfig, found: Shapes, expected: Shapes | None = None, what: str = "checkpoint",
               display: Callable[[str], str] = str,
               hint: str = "decode with the config the model was trained (or imported) with") -> None:
    """Raise ValueError when a state dict of shapes ``found`` cannot load strictly into the model of ``cfg``
    (``expected``: that model's shapes, if already at hand). The message names the config fields whose values the
    checkpoint contradicts, then the first differing tensor and the unknown and missing keys (shown through
    ``display``)."""
    fit = fit_of(expected if expected is not None else expected_shapes(cfg), found)
    if fit.ok:
        return
    try:
        differences = config_differences(cfg, infer_model_config(found, cfg))
    except ValueError:
        differences = []
    fields = "; ".join(f"{key} is {_plain(a)} in the config but {_plain(b)} in the {what}" for key, a, b in differences)
    raise ValueError(
        f"the {what} does not fit the config: " + (f"{fields}. " if fields else "")
        + fit.describe(display=display) + f"; {hint}"
    )


def _plain(value: Any) -> str:
    return str(list(value)) if isinstance(value, tuple) else repr(value) if isinstance(value, str) else str(value)
