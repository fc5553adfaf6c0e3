"""``hent-srt import-icefall``: the authors' icefall HENT-SRT / NT-Shared checkpoints as a hent-srt model directory.

    hent-srt import-icefall --checkpoint FILE [FILE ...] --out-dir DIR [--bpe-model SRC.model]
        [--bpe-st-model TGT.model] [--epoch E --avg A] [--use-averaged-model] [--config PRESET_OR_YAML]

icefall's state dicts differ from hent-srt's only in the names of the task heads: every tensor lands on a
hent-srt parameter of the same shape after the prefix rename of :data:`NAME_TABLE` (one table, read in both
directions). Inputs: ``pretrained.pt`` (``{"model": ...}``, icefall's ``export.py --jit 0``), a bare state dict,
``epoch-N.pt`` / ``best-valid-loss.pt`` (``model``, ``model_avg``, ``batch_idx_train``), several files, or an
experiment directory with ``--epoch/--avg``, averaged as icefall's decode.py does (:mod:`hent_srt.train.weights`).

The architecture is inferred from the tensor shapes (:mod:`hent_srt.model.arch`: stacks, layers, dims, heads,
kernels, downsampling factors, causal or not, vocabularies); what the shapes cannot show comes from the published
preset of the detected family (``hent_srt`` or ``nt_shared``, with ``hent_srt_streaming``'s chunking and decoding
for causal models). With ``--config`` the tensors are checked against that config instead. Either way a tensor
that does not fit is named with its expected and found shapes, and unknown and missing keys are listed.

Written to DIR: ``config.yaml`` (the resolved config; decoding as published: modified beam search, beam 20, ST
blank penalty 1 offline; greedy, chunk 64 / left context 128, ST blank penalty 2 for causal models),
``pretrained.pt`` (``{"model": state_dict}`` in hent-srt's names, readable with ``torch.load(weights_only=True)``),
the tokenizers when given (``bpe_src.model``, ``bpe_tgt.model``) and ``import.json`` (what was read, averaged,
inferred and assumed). ``hent-srt decode``, ``translate``, ``export`` and ``train --init-from`` use DIR as an
experiment directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from hent_srt.config import Config, apply_overrides, config_from_dict, config_to_dict, dump_config, load_config
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.fileio import atomic_path, write_text_atomic
from hent_srt.model.arch import check_fits, infer_model_config, model_size, not_inferred_values, shapes_of
from hent_srt.train.checkpoint import save_checkpoint
from hent_srt.train.weights import Weights, add_averaging_arguments, read_weights

__all__ = [
    "NAME_TABLE",
    "Imported",
    "import_checkpoint",
    "is_icefall_named",
    "published_config",
    "to_hent_names",
    "to_icefall_names",
    "write_model_dir",
]

# (icefall prefix, hent-srt prefix). Prefixes of one column never start one another, so a name matches one row.
NAME_TABLE: tuple[tuple[str, str], ...] = (
    ("encoder_embed.", "encoder_embed."),
    ("encoder.", "encoder."),
    ("st_encoder.", "st_encoder."),
    ("decoder.", "heads.asr.predictor."),
    ("joiner.", "heads.asr.joiner."),
    ("simple_am_proj.", "heads.asr.simple_am_proj."),
    ("simple_lm_proj.", "heads.asr.simple_lm_proj."),
    ("ctc_output.", "heads.asr.ctc_output."),
    ("st_decoder.", "heads.st.predictor."),
    ("st_joiner.", "heads.st.joiner."),
    ("simple_st_am_proj.", "heads.st.simple_am_proj."),
    ("simple_st_lm_proj.", "heads.st.simple_lm_proj."),
    ("st_ctc_output.", "heads.st.ctc_output."),
)

PRETRAINED_NAME = "pretrained.pt"
CONFIG_NAME = "config.yaml"
REPORT_NAME = "import.json"
TOKENIZER_NAMES = {"src": "bpe_src.model", "tgt": "bpe_tgt.model"}


def _rename(state: Mapping[str, Tensor], pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, Tensor], list[str]]:
    pairs = list(pairs)
    out: dict[str, Tensor] = {}
    unmatched = []
    for name, value in state.items():
        for old, new in pairs:
            if name.startswith(old):
                out[new + name[len(old):]] = value
                break
        else:
            out[name] = value
            unmatched.append(name)
    return out, unmatched


def to_hent_names(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """icefall names → hent-srt names; names no row of :data:`NAME_TABLE` matches are kept as they are and
    listed (second value)."""
    return _rename(state, NAME_TABLE)


def to_icefall_names(state: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """hent-srt names → icefall names (the inverse of :func:`to_hent_names`)."""
    return _rename(state, ((new, old) for old, new in NAME_TABLE))


def icefall_name(name: str) -> str:
    """The icefall name of one hent-srt tensor name."""
    return next((old + name[len(new):] for old, new in NAME_TABLE if name.startswith(new)), name)


_ICEFALL_ONLY = tuple(old for old, new in NAME_TABLE if old != new)


def is_icefall_named(names: Iterable[str]) -> bool:
    """True when the names are icefall's (head tensors under ``decoder.``, ``joiner.`` ..., none under ``heads.``)."""
    names = list(names)
    return any(n.startswith(_ICEFALL_ONLY) for n in names) and not any(n.startswith("heads.") for n in names)


def published_config(hierarchical: bool, causal: bool) -> Config:
    """The published preset of a model family: ``hent_srt`` or ``nt_shared``; a causal model takes the chunking
    (training lists, eval chunk 64 / left context 128) of its encoders and the decoding settings of
    ``hent_srt_streaming``."""
    config = load_config("hent_srt" if hierarchical else "nt_shared")
    if not causal:
        return config
    streaming = load_config("hent_srt_streaming")
    chunking = ("causal", "chunk_size", "left_context_frames", "eval_chunk_size", "eval_left_context_frames")
    model = config.model
    for name in ("asr_encoder", "st_encoder") if hierarchical else ("asr_encoder",):
        source = getattr(streaming.model, name)
        model = dataclasses.replace(model, **{name: dataclasses.replace(
            getattr(model, name), **{f: getattr(source, f) for f in chunking})})
    return dataclasses.replace(config, model=model, decode=streaming.decode)


@dataclass
class Imported:
    """An icefall checkpoint in hent-srt's names with its config; ``report`` goes to ``import.json``."""

    config: Config
    state: dict[str, Tensor]
    report: dict[str, Any]


def _with_overrides(config: Config, overrides: Sequence[str]) -> Config:
    return config_from_dict(apply_overrides(config_to_dict(config), overrides)) if overrides else config


def import_checkpoint(
    sources: Sequence[str | Path],
    epoch: int | None = None,
    avg: int | None = None,
    use_averaged_model: bool = False,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> Imported:
    """Read icefall weights (module docstring), rename them, infer the config (or check them against ``config``).

    Raises ValueError naming the file, the unknown or missing keys, or the first tensor that does not fit."""
    weights: Weights = read_weights(sources[0] if len(sources) == 1 else sources, epoch, avg, use_averaged_model)
    if not is_icefall_named(weights.state):
        raise ValueError(
            f"{', '.join(weights.sources)} does not hold icefall names (decoder., joiner., st_decoder. ...); a "
            "hent-srt checkpoint needs no import: decode it with its own config.yaml"
        )
    state, _ = to_hent_names(weights.state)
    shapes = shapes_of(state)
    hierarchical = any(n.startswith("st_encoder.") for n in state)
    causal = any(".chunkwise_conv." in n for n in state)
    if config is not None:
        resolved = load_config(config, overrides)
        how = f"checked against {config}"
    else:
        base = published_config(hierarchical, causal)
        try:
            inferred = infer_model_config(shapes, base.model)
        except ValueError as err:
            raise ValueError(f"{', '.join(weights.sources)}: {err}; this is not a HENT-SRT / NT-Shared checkpoint of "
                             "icefall, or pass --config with its architecture") from None
        resolved = _with_overrides(dataclasses.replace(base, model=inferred), overrides)
        how = "inferred from the tensor shapes"
    hint = ("fix --config, or drop it to infer the architecture from the tensors" if config is not None else
            "hent-srt cannot build this architecture; pass --config if the inference above went wrong")
    expected, num_parameters = model_size(resolved.model)
    check_fits(resolved.model, shapes, expected, what="checkpoint", display=icefall_name, hint=hint)
    family = ("HENT-SRT" if hierarchical else "NT-Shared") + (" (causal)" if causal else "")
    report = {
        "family": family,
        "read": weights.describe(),
        "tensors": len(state),
        "parameters": num_parameters,
        "config": how,
        "not_in_the_tensors": {} if config is not None else not_inferred_values(resolved.model),
        "decode": config_to_dict(resolved)["decode"],
    }
    return Imported(resolved, state, report)


def _tokenizer(path: str | Path, vocab: int, option: str, head: str) -> Tokenizer:
    tokenizer = Tokenizer(path)
    if tokenizer.vocab_size != vocab:
        raise ValueError(
            f"{option} {path} has {tokenizer.vocab_size} pieces but the {head} head has {vocab} outputs; pass the "
            "sentencepiece model the checkpoint was trained with"
        )
    return tokenizer


def write_model_dir(imported: Imported, out_dir: str | Path, bpe_model: str | Path | None = None,
                    bpe_st_model: str | Path | None = None) -> list[Path]:
    """Write DIR/pretrained.pt, the tokenizers, DIR/config.yaml and DIR/import.json (each atomically, the report
    last); tokenizers are checked against the head sizes before anything is written. Returns the paths."""
    out_dir = Path(out_dir)
    model = imported.config.model
    tokenizers = {}
    if bpe_model is not None:
        tokenizers["src"] = _tokenizer(bpe_model, model.asr_vocab_size, "--bpe-model", "ASR")
    if bpe_st_model is not None:
        if "st" not in model.tasks:
            raise ValueError("--bpe-st-model: this checkpoint has no ST head")
        tokenizers["tgt"] = _tokenizer(bpe_st_model, model.st_vocab_size, "--bpe-st-model", "ST")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {out_dir} is a file; give a directory")
    written = [save_checkpoint(out_dir / PRETRAINED_NAME, model=imported.state)]
    data = imported.config.data
    for side, tokenizer in tokenizers.items():
        target = (out_dir / TOKENIZER_NAMES[side]).resolve()
        with atomic_path(target) as tmp:
            shutil.copyfile(tokenizer.model_path, tmp)
        data = dataclasses.replace(data, **{f"{side}_bpe_model": str(target)})
        written.append(target)
    config = dataclasses.replace(imported.config, data=data)
    write_text_atomic(out_dir / CONFIG_NAME, dump_config(config))
    report = dict(imported.report, tokenizers={side: str(t.model_path) for side, t in tokenizers.items()},
                  written=[str(p) for p in written] + [str(out_dir / CONFIG_NAME)])
    write_text_atomic(out_dir / REPORT_NAME, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return [*written, out_dir / CONFIG_NAME, out_dir / REPORT_NAME]


# ---------------------------------------------------------------------------------------------------------
# command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, nargs="+", required=True, metavar="FILE",
                        help="pretrained.pt, epoch-N.pt, best-valid-loss.pt, a bare state dict, several files to "
                             "average, or an icefall exp directory (with --epoch/--avg)")
    parser.add_argument("--out-dir", type=Path, required=True, help="model directory to write")
    parser.add_argument("--bpe-model", type=Path, help="source sentencepiece model (icefall data/lang_bpe_*/bpe.model)")
    parser.add_argument("--bpe-st-model", type=Path,
                        help="target sentencepiece model (icefall data/lang_st_bpe_*/bpe.model)")
    add_averaging_arguments(parser, "the --checkpoint directory")
    parser.add_argument("--config", help="check the tensors against this preset or YAML instead of inferring")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted override of the written config, e.g. --set decode.beam=4")


def main(args: argparse.Namespace) -> int:
    try:
        imported = import_checkpoint(args.checkpoint, args.epoch, args.avg, args.use_averaged_model, args.config,
                                     args.overrides)
        written = write_model_dir(imported, args.out_dir, args.bpe_model, args.bpe_st_model)
    except ValueError as err:
        print(f"hent-srt import-icefall: {err}", file=sys.stderr)
        return 2
    report = imported.report
    print(f"read {report['read']['how']}")
    print(f"{report['family']}: {report['tensors']} tensors, {report['parameters']:,} parameters; config "
          f"{report['config']}")
    for path in written:
        print(f"wrote {path}")
    return 0
