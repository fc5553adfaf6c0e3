"""``hent-srt export``: TorchScript and ONNX graphs of a trained HENT-SRT model (stage 6 of a recipe).

Files written to ``--out-dir`` (default EXP_DIR/export): ``model.pt`` (``--torchscript``), the ONNX graphs
(``--onnx``) and their int8 variants (``--int8``) (:mod:`hent_srt.export.offline`), ``model-streaming.pt``
(``--streaming``, causal models; :mod:`hent_srt.export.streaming`), the token files, and with ``--sherpa-onnx``
one sherpa-onnx transducer per head in ``sherpa-onnx/<task>/`` (with ``--streaming`` also
``sherpa-onnx-streaming/<task>/``) and ``README.txt`` (:mod:`hent_srt.export.sherpa_onnx`). Without a format
flag, TorchScript and ONNX are written. ``--verify-cuts CUTS`` then decodes the first ``--verify-num`` utterances
of CUTS with every written format and with the PyTorch model, reports what one symbol per frame costs, and exits
1 unless the float32 formats give the same greedy hypotheses (:mod:`hent_srt.export.verify`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from hent_srt.argtypes import int_at_least
from hent_srt.config import load_experiment_config
from hent_srt.data.tokenizer import Tokenizer
from hent_srt.decode.decode import load_model
from hent_srt.decode.runtimes import STREAMING_TORCHSCRIPT_NAME, TORCHSCRIPT_NAME
from hent_srt.decode.streaming import ModelGraphs
from hent_srt.export import verify
from hent_srt.export.metadata import export_metadata
from hent_srt.export.offline import MIN_OPSET, export_onnx, export_torchscript, quantize_int8, write_tokens
from hent_srt.export.sherpa_onnx import (
    check_exportable,
    check_streaming_exportable,
    export_sherpa_onnx,
    export_sherpa_onnx_streaming,
    write_readme,
)
from hent_srt.export.streaming import export_streaming_torchscript


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp-dir", type=Path, required=True, help="experiment directory (holds config.yaml)")
    parser.add_argument("--config", type=Path, help="a YAML file or a preset name (default: EXP_DIR/config.yaml)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="model weights to export")
    parser.add_argument("--out-dir", type=Path, help="default: EXP_DIR/export")
    parser.add_argument("--torchscript", action="store_true", help="write model.pt (default: both formats)")
    parser.add_argument("--onnx", action="store_true", help="write the ONNX graphs (default: both formats)")
    parser.add_argument("--sherpa-onnx", action="store_true",
                        help="write one sherpa-onnx transducer per head in OUT_DIR/sherpa-onnx/<task>/ (with --streaming "
                             "also OUT_DIR/sherpa-onnx-streaming/<task>/) and OUT_DIR/README.txt")
    parser.add_argument("--int8", action="store_true",
                        help="also write int8 dynamically quantised ONNX graphs (of --onnx and --sherpa-onnx)")
    parser.add_argument("--streaming", action="store_true",
                        help="also write model-streaming.pt, the chunk-by-chunk TorchScript model (causal models)")
    parser.add_argument("--chunk-size", type=int_at_least(1), default=None,
                        help="with --streaming: chunk in frames at 50 Hz baked in for both encoders (default: each "
                             "encoder's eval_chunk_size; published 64)")
    parser.add_argument("--left-context", type=int_at_least(0), default=None,
                        help="with --streaming: left context in frames at 50 Hz for both encoders (default: each "
                             "encoder's eval_left_context_frames; published 128)")
    parser.add_argument("--verify-cuts", type=Path, default=None,
                        help="cut manifest with features (and audio, for --sherpa-onnx): check that the exports "
                             "reproduce PyTorch's greedy hypotheses on its first --verify-num utterances (exit 1 if "
                             "not) and report what one symbol per frame costs")
    parser.add_argument("--verify-num", type=int, default=20, help="utterances for --verify-cuts (default 20)")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (>= {MIN_OPSET})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override, e.g. data.src_bpe_model=data/bpe_src/bpe.model")


def _check_onnx_available() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ValueError("--onnx and --sherpa-onnx need the onnx and onnxruntime packages: "
                         "pip install 'hent-srt[export]'") from None


def _tokenizers(config) -> dict[str, Tokenizer]:
    """The tokenizers the config names, per task (for the cost of one symbol per frame)."""
    paths = {"asr": config.data.src_bpe_model, "st": config.data.tgt_bpe_model}
    return {t: Tokenizer(paths[t]) for t in config.model.tasks if paths[t]}


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    do_torchscript = args.torchscript or not (args.onnx or args.sherpa_onnx)
    do_onnx = args.onnx or not (args.torchscript or args.sherpa_onnx)
    try:
        if args.int8 and not (do_onnx or args.sherpa_onnx):
            raise ValueError("--int8 quantises the ONNX graphs: add --onnx or --sherpa-onnx (or drop --torchscript)")
        if not args.streaming and (args.chunk_size is not None or args.left_context is not None):
            raise ValueError("--chunk-size/--left-context set the chunking of --streaming: add --streaming")
        if do_onnx or args.sherpa_onnx:
            _check_onnx_available()
        if args.opset < MIN_OPSET:
            raise ValueError(f"--opset must be >= {MIN_OPSET}, got {args.opset}")
        config = load_experiment_config(args.config, args.exp_dir, args.overrides)
        model = load_model(config, args.checkpoint, torch.device("cpu"))
        out_dir = args.out_dir or args.exp_dir / "export"
        out_dir.mkdir(parents=True, exist_ok=True)
        metadata = export_metadata(config, model)
        if args.sherpa_onnx:
            check_exportable(config, metadata)
        streaming_graphs = None
        if args.streaming:
            chunking = (args.chunk_size, args.left_context, args.chunk_size, args.left_context)
            streaming_graphs = ModelGraphs(model, *chunking)
            if args.sherpa_onnx:
                check_streaming_exportable(streaming_graphs)
        verify_cuts = None
        if args.verify_cuts is not None:
            try:
                verify_cuts = verify.load_cuts(args.verify_cuts, args.verify_num)
            except ValueError as err:
                raise ValueError(f"--verify-cuts/--verify-num: {err}") from None
        tokenizers = _tokenizers(config)
        written = write_tokens(config, metadata, out_dir)
    except ValueError as err:
        print(f"hent-srt export: {err}", file=sys.stderr)
        return 2
    if do_torchscript:
        written.append(export_torchscript(model, metadata, out_dir / TORCHSCRIPT_NAME))
    if do_onnx:
        graphs = export_onnx(model, metadata, out_dir, args.opset)
        written += graphs
        if args.int8:
            written += quantize_int8(graphs)
    if streaming_graphs is not None:
        written.append(export_streaming_torchscript(streaming_graphs, metadata, out_dir / STREAMING_TORCHSCRIPT_NAME))
    if args.sherpa_onnx:
        written += export_sherpa_onnx(model, metadata, out_dir, args.opset, args.int8)
        if streaming_graphs is not None:
            written += export_sherpa_onnx_streaming(streaming_graphs, metadata, out_dir, args.opset, args.int8)
        written.append(write_readme(out_dir, metadata, streaming_graphs.asr.chunk_size if streaming_graphs else None,
                                    args.int8))
    for path in written:
        print(f"wrote {path}")
    if verify_cuts is None:
        return 0
    features, feature_lens = verify.cut_features(verify_cuts)
    formats = {"torchscript": do_torchscript, "onnx": do_onnx, "int8": args.int8, "streaming": args.streaming}
    rows = verify.verify(model, metadata, out_dir, features, feature_lens, config.decode.max_sym_per_frame, formats)
    notes = verify.symbol_cost(model, metadata, verify_cuts, features, feature_lens, config.decode.max_sym_per_frame,
                               tokenizers)
    if args.sherpa_onnx:
        waveforms = verify.cut_waveforms(verify_cuts)
        if waveforms is None:
            notes.append(f"sherpa-onnx: not checked, the cuts of {args.verify_cuts} have no recordings (sherpa-onnx "
                         "decodes audio)")
        else:
            streaming = (streaming_graphs.asr, streaming_graphs.st) if streaming_graphs is not None else None
            sherpa_rows, sherpa_notes = verify.verify_sherpa(model, metadata, out_dir, waveforms, args.int8, streaming)
            rows += sherpa_rows
            notes += sherpa_notes
    print(f"verification on the first {len(feature_lens)} utterances of {args.verify_cuts}:")
    print(verify.format_table(rows))
    for note in notes:
        print(note)
    failed = verify.failures(rows)
    if failed:
        names = ", ".join(f"{r.format}/{r.task}" for r in failed)
        print(f"hent-srt export: {names} differ from the PyTorch model's greedy hypotheses", file=sys.stderr)
        return 1
    return 0
