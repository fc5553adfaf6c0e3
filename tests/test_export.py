"""hent-srt export: TorchScript and ONNX graphs of a tiny HENT-SRT give PyTorch's greedy hypotheses on lengths other
than the traced one; int8 graphs run; metadata and tokens round-trip; user errors exit 2."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
import torch

from hent_srt import cli
from hent_srt.config import Config, DecodeConfig, EncoderConfig, ModelConfig, dump_config
from hent_srt.decode.runtimes import (
    STREAMING_TORCHSCRIPT_NAME,
    TORCHSCRIPT_NAME,
    ModelRuntime,
    TorchScriptRuntime,
    graph_file,
    greedy_decode,
    load_streaming_torchscript,
    load_torchscript,
)
from hent_srt.decode.streaming import StreamingDecoder
from hent_srt.export.metadata import export_metadata
from hent_srt.export.offline import export_onnx, export_torchscript, onnx_metadata
from hent_srt.export.trace import trace_num_frames, traceable
from hent_srt.export.verify import (
    compare,
    failures,
    load_features,
    pad_features,
    streaming_hyps,
    streaming_prefix_hyps,
    verify_sherpa,
)
from hent_srt.model.hent import build_model
from hent_srt.model.zipformer import rel_shift_gather, rel_shift_strided
from hent_srt.search.greedy import greedy_search

try:
    import onnx
    import onnxruntime

    from hent_srt.decode.runtimes import OnnxRuntime

    HAVE_ORT = True
except ImportError:
    HAVE_ORT = False
needs_ort = pytest.mark.skipif(not HAVE_ORT, reason="onnxruntime is not installed (pip install 'hent-srt[export]')")

# Utterance lengths (feature frames) decoded after export; none equals the traced length.
LENGTHS = [(150, 97, 40), (64,), (200, 9)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on the shared 2-core machine more threads only spin against each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def plain_torchscript_execution():
    """Run TorchScript graphs without the profiling executor, whose first calls re-optimise the graph (seconds
    each on this tiny model); the values are the same."""
    with torch.jit.optimized_execution(False):
        yield


def train_chars(tmp: Path, name: str, text: str) -> Path:
    """A character-level sentencepiece model with hent-srt's id layout (<blk>=0, <sos/eos>=1, <unk>=2)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter([text] * 4), model_writer=model, vocab_size=100,
                                   model_type="char", character_coverage=1.0, hard_vocab_limit=False,
                                   user_defined_symbols=["<blk>", "<sos/eos>"], unk_id=2, bos_id=-1, eos_id=-1,
                                   minloglevel=2)
    path = tmp / f"{name}.model"
    path.write_bytes(model.getvalue())
    return path


def micro_encoder(num_stacks: int, output_ds: int) -> EncoderConfig:
    return EncoderConfig(num_encoder_layers=(1,) * num_stacks, downsampling_factor=(1, 2)[:num_stacks],
                         encoder_dim=(32,) * num_stacks, encoder_unmasked_dim=(32,) * num_stacks,
                         num_heads=(2,) * num_stacks, feedforward_dim=(48,) * num_stacks,
                         cnn_module_kernel=(7,) * num_stacks, query_head_dim=8, value_head_dim=8, pos_head_dim=4,
                         pos_dim=16, output_downsampling_factor=output_ds)


def micro_config(tmp: Path, encoder_type: str) -> Config:
    src = train_chars(tmp, "src", "hola mundo que tal")
    tgt = train_chars(tmp, "tgt", "hello world")
    model = ModelConfig(encoder_type=encoder_type, subsampling_channels=(4, 8, 16), asr_encoder=micro_encoder(2, 2),
                        st_encoder=micro_encoder(1, 1), decoder_dim=24, joiner_dim=24,
                        asr_vocab_size=spm.SentencePieceProcessor(model_file=str(src)).get_piece_size(),
                        st_vocab_size=spm.SentencePieceProcessor(model_file=str(tgt)).get_piece_size())
    config = Config(model=model, decode=DecodeConfig(max_sym_per_frame=2))
    config.data.src_bpe_model, config.data.tgt_bpe_model = str(src), str(tgt)
    return config


@torch.no_grad()
def sharpen(model, config: Config, inputs: tuple[torch.Tensor, torch.Tensor] | None = None,
            sherpa: bool = False) -> None:
    """Make a random model's hypotheses depend on the encoder: the encoder output of a random Zipformer2 varies
    little over frames (std ~0.05 around values ~2), so each joiner's ``encoder_proj`` is centred on the mean
    output (of ``inputs``, default random features) and scaled by 20; the default blank penalty of each task is
    set so that about 40% of the first decisions are blank. Sets ``config.decode.blank_penalty_<task>``.

    ``sherpa``: as sherpa-onnx needs it, a trained model's way: the penalty is made 0.5 by moving the blank bias
    (same decisions), and ``<unk>`` (id 2), which sherpa-onnx treats as blank, is never emitted."""
    x, x_lens = features((300, 200), 99) if inputs is None else inputs
    encoded = model.encode(x, x_lens)
    for task, head in model.heads.items():
        out = encoded[task].out[0, : encoded[task].lens[0]]
        proj = head.joiner.encoder_proj
        proj.weight.mul_(20.0)
        proj.bias.copy_(-(proj.weight @ out.mean(0)))
        head.joiner.output_linear.weight.mul_(3.0)
        logits = head.join(proj(out), head.predict(torch.tensor([[-1, 0]])))
        gap = logits[:, 0] - logits[:, 1:].max(dim=-1).values
        penalty = float(gap.quantile(0.6))
        if sherpa:
            head.joiner.output_linear.bias[0] += 0.5 - penalty
            head.joiner.output_linear.bias[2] -= 50.0
            penalty = 0.5
        setattr(config.decode, f"blank_penalty_{task}", penalty)


def export_with_cli(tmp: Path, encoder_type: str, extra: list[str]) -> tuple[Config, torch.nn.Module, Path]:
    """A random micro model saved as an experiment directory and exported with ``hent-srt export``."""
    config = micro_config(tmp, encoder_type)
    torch.manual_seed(0)
    model = build_model(config.model, config.loss).eval()
    sharpen(model, config)
    (tmp / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    torch.save({"model": model.state_dict()}, tmp / "epoch-1.pt")
    out = tmp / "export"
    code = cli.main(["export", "--exp-dir", str(tmp), "--checkpoint", str(tmp / "epoch-1.pt"), "--out-dir", str(out),
                     *extra])
    assert code == 0
    return config, model, out


@pytest.fixture(scope="module")
def hier(tmp_path_factory):
    return export_with_cli(tmp_path_factory.mktemp("hier"), "hier", ["--int8"] if HAVE_ORT else ["--torchscript"])


def features(lengths: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(len(lengths), max(lengths), 80, generator=g), torch.tensor(lengths, dtype=torch.int64)


@torch.no_grad()
def pytorch_hyps(model, x, x_lens, max_sym: int, penalties: dict[str, float]) -> dict[str, list[list[int]]]:
    encoded = model.encode(x, x_lens)
    return {t: greedy_search(model.heads[t], model.heads[t].project_encoder(encoded[t].out), encoded[t].lens,
                             penalties[t], max_sym) for t in model.cfg.tasks}


def test_rel_shift_gather_equals_strided():
    g = torch.Generator().manual_seed(1)
    for seq_len, left in ((5, 0), (7, 3), (1, 0)):
        scores = torch.randn(2, 3, seq_len, left + 2 * seq_len - 1, generator=g)
        expected = rel_shift_strided(scores, left + seq_len)
        assert torch.equal(rel_shift_gather(scores, left + seq_len), expected)
        # Brute force: out[..., i, j] = scores[..., i, T - 1 - i + j].
        for i in range(seq_len):
            for j in range(left + seq_len):
                assert torch.equal(expected[..., i, j], scores[..., i, seq_len - 1 - i + j])


def test_traceable_switches_the_rel_shift_of_this_model_only_and_restores_it(tmp_path):
    config = micro_config(tmp_path, "hier")
    torch.manual_seed(8)
    model, other = build_model(config.model), build_model(config.model)
    x, x_lens = features((60, 41), 8)
    model.eval()
    with torch.no_grad():
        before = model.encode(x, x_lens)
    model.train()
    with traceable(model):
        assert not model.training
        assert model.encoder.rel_shift == model.st_encoder.rel_shift == "gather"
        assert other.encoder.rel_shift == "strided"
        during = model.encode(x, x_lens)
    assert model.training and model.encoder.rel_shift == model.st_encoder.rel_shift == "strided"
    for task in config.model.tasks:
        torch.testing.assert_close(during[task].out, before[task].out, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="rel_shift"):
        model.encoder.set_rel_shift("roll")


def test_published_downsampling_traces_for_every_length(tmp_path):
    """Tiny widths with the published ENC_asr factors (1, 2, 4, 8, 4; output 2): the trace length pads at every
    downsampling (and exceeds a causal model's chunk), and the offline trace is exact on other lengths."""
    published = EncoderConfig()
    small = dataclasses.replace(micro_encoder(1, 2), downsampling_factor=published.downsampling_factor,
                                num_encoder_layers=(1,) * 5, encoder_dim=(16,) * 5, encoder_unmasked_dim=(16,) * 5,
                                num_heads=(1,) * 5, feedforward_dim=(16,) * 5, cnn_module_kernel=(3,) * 5)
    for causal, minimum in ((True, 65), (False, 17)):
        encoder = dataclasses.replace(small, causal=causal, chunk_size=(64,), left_context_frames=(128,))
        config = Config(model=ModelConfig(encoder_type="shared", subsampling_channels=(2, 2, 2), asr_encoder=encoder,
                                          decoder_dim=4, joiner_dim=4, asr_vocab_size=3, st_vocab_size=3))
        torch.manual_seed(4)
        model = build_model(config.model).eval()
        frames = (trace_num_frames(model) - 7) // 2
        assert frames >= minimum and all(frames % d == 1 for d in (2, 4, 8)), (causal, frames)
    runtime = TorchScriptRuntime(export_torchscript(model, export_metadata(config, model), tmp_path / "model.pt"))
    x, x_lens = features((173, 120, 23), 6)  # 83, 56 and 8 front-end frames; the trace had 17
    with torch.no_grad():
        reference = model.heads["asr"].project_encoder(model.encode(x, x_lens)["asr"].out)
        torch.testing.assert_close(runtime.encode(x, x_lens)["asr"][0], reference, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def edge_scales(model) -> None:
    """Give the chunk-causal convolutions the nonzero chunk-edge scales a trained model has (zero at init), so
    that chunking differences show in the output."""
    generator = torch.Generator().manual_seed(7)
    for name, param in model.named_parameters():
        if name.endswith("chunkwise_conv_scale"):
            param.copy_(0.5 * torch.randn(param.shape, generator=generator))


def causal_options(chunk: int, left: int) -> dict:
    return {"causal": True, "chunk_size": (chunk,), "left_context_frames": (left,), "eval_chunk_size": chunk,
            "eval_left_context_frames": left}


def test_causal_encoder_graphs_equal_pytorch(tmp_path):
    """Lengths shorter than one chunk at every stack (batches (30,) and (20, 11)) included."""
    config = micro_config(tmp_path, "hier")
    causal = causal_options(16, 32)
    config.model.asr_encoder = dataclasses.replace(config.model.asr_encoder, **causal)
    config.model.st_encoder = dataclasses.replace(config.model.st_encoder, **causal)
    torch.manual_seed(3)
    model = build_model(config.model).eval()
    edge_scales(model)
    metadata = export_metadata(config, model)
    assert [metadata[k] for k in ("causal_st", "chunk_size_st", "left_context_frames_asr")] == ["1", "16", "32"]
    module, _ = load_torchscript(export_torchscript(model, metadata, tmp_path / TORCHSCRIPT_NAME))
    session = None
    if HAVE_ORT:
        export_onnx(model, metadata, tmp_path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(graph_file(tmp_path, "encoder")), options)
    for seed, lengths in enumerate([(150, 97, 40), (30,), (20, 11)]):
        x, x_lens = features(lengths, seed)
        with torch.no_grad():
            encoded = model.encode(x, x_lens)
            outputs = module.encoder(x, x_lens)
            onnx_outputs = session.run(None, {"features": x.numpy(), "feature_lens": x_lens.numpy()}) if session else None
            for i, task in enumerate(config.model.tasks):
                reference = model.heads[task].project_encoder(encoded[task].out)
                torch.testing.assert_close(outputs[2 * i], reference, rtol=1e-5, atol=1e-5)
                if onnx_outputs is not None:
                    np.testing.assert_allclose(onnx_outputs[2 * i], reference.numpy(), rtol=1e-4, atol=1e-4)
                    np.testing.assert_array_equal(onnx_outputs[2 * i + 1], encoded[task].lens.numpy())


def default_penalties(config: Config) -> dict[str, float]:
    return {t: getattr(config.decode, f"blank_penalty_{t}") for t in config.model.tasks}


def test_torchscript_hypotheses_equal_pytorch_on_other_lengths(hier):
    config, model, out = hier
    runtime = TorchScriptRuntime(out / TORCHSCRIPT_NAME)
    traced = (trace_num_frames(model) - 7) // 2
    assert all((length - 7) // 2 != traced for lengths in LENGTHS for length in lengths)
    tokens = []
    for seed, lengths in enumerate(LENGTHS):
        x, x_lens = features(lengths, seed)
        expected = pytorch_hyps(model, x, x_lens, 2, default_penalties(config))
        assert greedy_decode(runtime, x, x_lens, max_sym_per_frame=2) == expected, lengths
        tokens += [token for hyps in expected.values() for h in hyps for token in h]
        with torch.no_grad():
            encoded = model.encode(x, x_lens)
        for task, (enc, lens) in runtime.encode(x, x_lens).items():
            reference = model.heads[task].project_encoder(encoded[task].out)
            torch.testing.assert_close(enc, reference, rtol=1e-5, atol=1e-5)
            assert torch.equal(lens, encoded[task].lens)
    assert len(tokens) > 100 and len(set(tokens)) > 5
    with pytest.raises(ValueError, match="feature_lens"):
        greedy_decode(runtime, x, torch.full_like(x_lens, 8))


@needs_ort
def test_onnx_hypotheses_equal_pytorch(hier):
    config, model, out = hier
    runtime = OnnxRuntime(out)
    for seed, lengths in enumerate(LENGTHS):
        x, x_lens = features(lengths, seed)
        expected = pytorch_hyps(model, x, x_lens, 2, default_penalties(config))
        assert greedy_decode(runtime, x, x_lens, max_sym_per_frame=2) == expected, lengths
        with torch.no_grad():
            encoded = model.encode(x, x_lens)
        for task, (enc, lens) in runtime.encode(x, x_lens).items():
            reference = model.heads[task].project_encoder(encoded[task].out).detach()
            np.testing.assert_allclose(enc.numpy(), reference.numpy(), rtol=1e-4, atol=1e-4)
            np.testing.assert_array_equal(lens.numpy(), encoded[task].lens.numpy())
    x, x_lens = features(LENGTHS[0], 0)
    other = default_penalties(config) | {"st": default_penalties(config)["st"] + 0.5}
    expected = pytorch_hyps(model, x, x_lens, 1, other)
    assert expected != pytorch_hyps(model, x, x_lens, 1, default_penalties(config))
    assert greedy_decode(runtime, x, x_lens, blank_penalty={"st": other["st"]}) == expected
    with pytest.raises(ValueError, match="feature_lens"):
        greedy_decode(runtime, x, x_lens.to(torch.int32))
    with pytest.raises(ValueError, match="blank_penalty"):
        greedy_decode(runtime, x, x_lens, blank_penalty={"mt": 1.0})


@needs_ort
def test_int8_graphs_run(hier):
    config, model, out = hier
    x, x_lens = features(LENGTHS[0], 0)
    hyps = greedy_decode(OnnxRuntime(out, int8=True), x, x_lens, max_sym_per_frame=2)
    reference = pytorch_hyps(model, x, x_lens, 2, default_penalties(config))
    for task in config.model.tasks:
        vocab = getattr(config.model, f"{task}_vocab_size")
        assert len(hyps[task]) == len(LENGTHS[0])
        assert all(0 < token < vocab for h in hyps[task] for token in h)
        print(f"int8 {task}: {hyps[task]}\nfloat32 {task}: {reference[task]}")
    for graph in ("encoder", "joiner-st"):
        ops = {node.op_type for node in onnx.load(str(graph_file(out, graph, int8=True))).graph.node}
        assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops, (graph, sorted(ops))


def test_metadata_round_trips(hier):
    config, model, out = hier
    expected = export_metadata(config, model)
    assert expected["model_type"] == "hier" and expected["tasks"] == "asr,st" and expected["context_size"] == "2"
    assert float(expected["blank_penalty_st"]) == config.decode.blank_penalty_st
    assert expected["st_vocab_size"] == str(config.model.st_vocab_size)
    assert expected["chunk_size_asr"] == "-1" and expected["causal_st"] == "0"
    _, metadata = load_torchscript(out / TORCHSCRIPT_NAME)
    assert metadata == expected
    if not HAVE_ORT:
        return
    for graph in ("encoder", "predictor-asr", "joiner-asr", "predictor-st", "joiner-st"):
        for int8 in (False, True):
            assert onnx_metadata(graph_file(out, graph, int8)) == expected, (graph, int8)
    assert OnnxRuntime(out).metadata == expected


def test_tokens_written_for_both_tasks(hier):
    config, _, out = hier
    for task, key in (("asr", "src_bpe_model"), ("st", "tgt_bpe_model")):
        sp = spm.SentencePieceProcessor(model_file=getattr(config.data, key))
        lines = (out / f"tokens-{task}.txt").read_text(encoding="utf-8").splitlines()
        assert lines == [f"{sp.id_to_piece(i)} {i}" for i in range(sp.get_piece_size())]
        assert lines[0] == "<blk> 0"
        assert (out / f"bpe-{task}.model").read_bytes() == Path(getattr(config.data, key)).read_bytes()


def test_shared_encoder_model_exports(tmp_path):
    config, model, out = export_with_cli(tmp_path, "shared", ["--torchscript"])
    runtime = TorchScriptRuntime(out / TORCHSCRIPT_NAME)
    assert runtime.metadata["model_type"] == "shared" and runtime.metadata["hierarchical"] == "0"
    x, x_lens = features((120, 71), 5)
    expected = pytorch_hyps(model, x, x_lens, 2, default_penalties(config))
    assert greedy_decode(runtime, x, x_lens, max_sym_per_frame=2) == expected
    assert not graph_file(out, "encoder").exists()


def test_cli_errors_exit_2(tmp_path, capsys):
    config = micro_config(tmp_path, "hier")
    (tmp_path / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    missing = tmp_path / "epoch-9.pt"
    assert cli.main(["export", "--exp-dir", str(tmp_path), "--checkpoint", str(missing), "--torchscript"]) == 2
    err = capsys.readouterr().err
    assert "hent-srt export:" in err and str(missing) in err and "not found" in err
    assert "Traceback" not in err
    code = cli.main(["export", "--exp-dir", str(tmp_path), "--checkpoint", str(missing), "--torchscript", "--int8"])
    assert code == 2 and "--int8" in capsys.readouterr().err
    assert not (tmp_path / "export" / TORCHSCRIPT_NAME).exists()


def write_feature_cuts(tmp: Path, lengths: tuple[int, ...]) -> Path:
    """A cut manifest of random 80-dim features (numpy files) of the given frame counts."""
    from lhotse import CutSet, MonoCut
    from lhotse.features import Features
    from lhotse.features.io import NumpyFilesWriter

    generator = torch.Generator().manual_seed(11)
    cuts = []
    with NumpyFilesWriter(tmp / "feats") as writer:
        for i, frames in enumerate(lengths):
            key = writer.write(f"u{i}", torch.randn(frames, 80, generator=generator).numpy())
            feats = Features(type="fbank", num_frames=frames, num_features=80, frame_shift=0.01, sampling_rate=16000,
                             start=0.0, duration=frames * 0.01, storage_type=writer.name,
                             storage_path=str(tmp / "feats"), storage_key=key)
            cuts.append(MonoCut(id=f"u{i}", start=0.0, duration=frames * 0.01, channel=0, features=feats))
    path = tmp / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


@pytest.mark.parametrize("encoder_type", ["hier", "shared"])
def test_streaming_export_and_verification_on_a_test_set(encoder_type, tmp_path, capsys):
    """``hent-srt export --streaming --verify-cuts``: a causal model (edge scales as if trained) exported in every
    format reproduces PyTorch's offline and streaming greedy hypotheses on the manifest's first utterances,
    some shorter than one chunk; the streaming model carries the chunking given on the command line."""
    config = micro_config(tmp_path, encoder_type)
    config.model.asr_encoder = dataclasses.replace(config.model.asr_encoder, **causal_options(32, 64))
    config.model.st_encoder = dataclasses.replace(config.model.st_encoder, **causal_options(32, 64))
    torch.manual_seed(5)
    model = build_model(config.model, config.loss).eval()
    edge_scales(model)
    sharpen(model, config)
    (tmp_path / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    torch.save({"model": model.state_dict()}, tmp_path / "epoch-1.pt")
    cuts = write_feature_cuts(tmp_path, (130, 30, 77, 200, 9))
    formats = ["--torchscript", "--onnx", "--int8"] if HAVE_ORT else ["--torchscript"]
    code = cli.main(["export", "--exp-dir", str(tmp_path), "--checkpoint", str(tmp_path / "epoch-1.pt"), *formats,
                     "--streaming", "--chunk-size", "16", "--left-context", "32", "--verify-cuts", str(cuts),
                     "--verify-num", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "first 4 utterances" in out
    rows = {tuple(line.split()[:2]): line.split()[2] for line in out.splitlines()
            if line.split()[:1] and line.split()[0].startswith(("torchscript", "onnx"))}
    expected_formats = ["torchscript", "torchscript-streaming"] + (["onnx", "onnx-int8"] if HAVE_ORT else [])
    assert sorted({f for f, _ in rows}) == sorted(expected_formats)
    for (fmt, _), identical in rows.items():
        if fmt != "onnx-int8":
            assert identical == "4/4", (fmt, out)
    graphs = load_streaming_torchscript(tmp_path / "export" / STREAMING_TORCHSCRIPT_NAME)
    assert graphs.metadata["streaming"] == "1" and graphs.metadata["model_type"] == encoder_type
    assert (graphs.asr.chunk_size, graphs.asr.left_context_frames) == (16, 32)
    assert (graphs.st is not None) == (encoder_type == "hier")
    features_, lens = load_features(cuts, 4)
    hyps = streaming_hyps(StreamingDecoder(model, 16, 32, 16, 32, blank_penalties_st=(config.decode.blank_penalty_st,),
                                           blank_penalty_asr=config.decode.blank_penalty_asr,
                                           max_sym_per_frame_asr=2, max_sym_per_frame_st=2), features_, lens)
    assert sum(len(h) for task_hyps in hyps.values() for h in task_hyps) > 20


def test_verification_counts_and_flags_differences():
    reference = {"asr": [[1, 2], [3]], "st": [[4], []]}
    rows = compare("onnx", reference, {"asr": [[1, 2], [3, 3]], "st": [[4], []]})
    assert [(r.task, r.identical, r.total, r.ok) for r in rows] == [("asr", 1, 2, False), ("st", 2, 2, True)]
    assert failures(rows) == rows[:1]
    assert failures(compare("onnx-int8", reference, {"asr": [[], []], "st": [[], []]}, exact_required=False)) == []


def test_streaming_export_needs_a_causal_model_and_streaming_flags(tmp_path, capsys):
    config = micro_config(tmp_path, "hier")
    (tmp_path / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    torch.save({"model": build_model(config.model).state_dict()}, tmp_path / "epoch-1.pt")
    base = ["export", "--exp-dir", str(tmp_path), "--checkpoint", str(tmp_path / "epoch-1.pt"), "--torchscript"]
    assert cli.main(base + ["--streaming"]) == 2
    assert "causal" in capsys.readouterr().err
    assert cli.main(base + ["--chunk-size", "16"]) == 2
    assert "--streaming" in capsys.readouterr().err
    assert cli.main(base + ["--verify-cuts", str(tmp_path / "none.jsonl.gz")]) == 2
    err = capsys.readouterr().err
    assert "--verify-cuts" in err and "none.jsonl.gz" in err and "not found" in err
    assert not (tmp_path / "export" / TORCHSCRIPT_NAME).exists()


# ---------------------------------------------------------------------------------------------------------
# sherpa-onnx (hent-srt export --sherpa-onnx): sherpa-onnx's own recognizers against hent-srt's greedy search


def tone_waveforms(seconds: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """16 kHz test audio: 80 ms segments of sine tones (random pitch 150-3500 Hz and level) and pauses."""
    rng = np.random.default_rng(seed)
    waves = []
    for duration in seconds:
        segments = []
        for _ in range(int(duration / 0.08)):
            t = np.arange(1280) / 16000
            tone = np.sin(2 * np.pi * rng.uniform(150, 3500) * t) * rng.choice([0.0, rng.uniform(0.02, 0.4)])
            segments.append(tone + 0.003 * rng.standard_normal(t.size))
        waves.append(np.concatenate(segments).astype(np.float32))
    return waves


def write_audio_cuts(tmp: Path, waveforms: list[np.ndarray]) -> Path:
    """A cut manifest of wav recordings with transcripts, translations and fbank features (as a recipe's stage 1
    writes them)."""
    import soundfile
    from lhotse import CutSet, Fbank, FbankConfig, Recording, SupervisionSegment
    from lhotse.features.io import NumpyFilesWriter

    cuts = []
    for i, samples in enumerate(waveforms):
        soundfile.write(tmp / f"a{i}.wav", samples, 16000)
        cut = Recording.from_file(tmp / f"a{i}.wav", recording_id=f"a{i}").to_cut()
        cut.supervisions = [SupervisionSegment(f"a{i}", f"a{i}", 0.0, cut.duration, text="hola mundo",
                                               custom={"translated_text": {"en": "hello world"}})]
        cuts.append(cut)
    cuts = CutSet.from_cuts(cuts).compute_and_store_features(Fbank(FbankConfig(num_mel_bins=80)), tmp / "audio_feats",
                                                            storage_type=NumpyFilesWriter)
    path = tmp / "audio_cuts.jsonl.gz"
    cuts.to_file(path)
    return path


SHERPA_SECONDS = (2.4, 0.9, 3.3)

try:
    import kaldi_native_fbank  # noqa: F401
    import sherpa_onnx

    from hent_srt.decode.sherpa import SherpaOfflineRunner, SherpaOnlineRunner, fbank, sherpa_dir

    HAVE_SHERPA = HAVE_ORT
except ImportError:
    HAVE_SHERPA = False
needs_sherpa = pytest.mark.skipif(not HAVE_SHERPA, reason="sherpa-onnx is not installed (pip install 'hent-srt[export]')")


@pytest.fixture(scope="module")
def sherpa_export(tmp_path_factory):
    """A causal micro model (chunk 16, left context 32 for both encoders) sharpened on test audio, exported with
    ``hent-srt export --sherpa-onnx --streaming`` and verified on the audio of two cuts; returns the config, model,
    export directory, the waveforms, their features as sherpa-onnx computes them, and the command's output."""
    tmp = tmp_path_factory.mktemp("sherpa")
    config = micro_config(tmp, "hier")
    config.model.asr_encoder = dataclasses.replace(config.model.asr_encoder, **causal_options(16, 32))
    config.model.st_encoder = dataclasses.replace(config.model.st_encoder, **causal_options(16, 32))
    torch.manual_seed(6)
    model = build_model(config.model, config.loss).eval()
    edge_scales(model)
    waves = tone_waveforms(SHERPA_SECONDS, 3)
    inputs = pad_features([fbank(w) for w in waves])
    sharpen(model, config, inputs, sherpa=True)
    (tmp / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    torch.save({"model": model.state_dict()}, tmp / "epoch-1.pt")
    cuts = write_audio_cuts(tmp, waves[:2])
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = cli.main(["export", "--exp-dir", str(tmp), "--checkpoint", str(tmp / "epoch-1.pt"), "--sherpa-onnx",
                         "--streaming", "--chunk-size", "16", "--left-context", "32", "--verify-cuts", str(cuts),
                         "--verify-num", "2"])
    assert code == 0, output.getvalue()
    return config, model, tmp / "export", waves, inputs, output.getvalue()


@needs_sherpa
def test_sherpa_offline_recognizer_gives_greedy_hypotheses_at_one_symbol_per_frame(sherpa_export):
    """Both heads (the ST graph contains ENC_asr): sherpa-onnx from audio == hent-srt's greedy search with one symbol
    per frame on the same features; the exported tokens.txt gives the tokenizer's text."""
    config, model, out, waves, (x, x_lens), _ = sherpa_export
    expected = greedy_decode(ModelRuntime(model), x, x_lens, default_penalties(config), max_sym_per_frame=1)
    for task in config.model.tasks:
        hyps = SherpaOfflineRunner(sherpa_dir(out, task)).decode(waves, batch_size=2)
        assert hyps == expected[task], task
        tokens = [t for h in expected[task] for t in h]
        assert len(tokens) > 30 and len(set(tokens)) > 4, (task, expected[task])
    d = sherpa_dir(out, "st")
    recognizer = sherpa_onnx.OfflineRecognizer.from_transducer(
        encoder=str(d / "encoder.onnx"), decoder=str(d / "decoder.onnx"), joiner=str(d / "joiner.onnx"),
        tokens=str(d / "tokens.txt"), blank_penalty=config.decode.blank_penalty_st)
    stream = recognizer.create_stream()
    stream.accept_waveform(16000, waves[0])
    recognizer.decode_stream(stream)
    sp = spm.SentencePieceProcessor(model_file=config.data.tgt_bpe_model)
    assert stream.result.text.strip() == sp.decode(expected["st"][0]).strip()


@needs_sherpa
def test_sherpa_online_recognizer_gives_streaming_greedy_hypotheses(sherpa_export):
    """Both heads as sherpa-onnx streaming zipformer2s (the ST head: ENC_asr's stacks then ENC_st's) == hent-srt's
    StreamingDecoder on the PyTorch model, one symbol per frame, over the whole chunks sherpa-onnx decodes; the
    default tail padding makes those chunks cover every frame of the audio."""
    config, model, out, waves, _, _ = sherpa_export
    penalties = default_penalties(config)
    decoder = StreamingDecoder(model, 16, 32, 16, 32, blank_penalty_asr=penalties["asr"],
                               blank_penalties_st=(penalties["st"],), max_sym_per_frame_asr=1, max_sym_per_frame_st=1)
    for task in config.model.tasks:
        runner = SherpaOnlineRunner(sherpa_dir(out, task, streaming=True))
        assert (runner.chunk_frames, runner.shift_frames) == (2 * 16 + 13, 32)
        padded = [fbank(runner.padded(w)) for w in waves]
        decoded = [runner.decoded_frames(f.shape[0]) for f in padded]
        assert all(n >= fbank(w).shape[0] + 6 for n, w in zip(decoded, waves))
        expected = streaming_prefix_hyps(decoder, [f[:n] for f, n in zip(padded, decoded)])[task]
        assert runner.decode(waves) == expected, task
        assert sum(map(len, expected)) > 30, (task, expected)


@needs_sherpa
def test_fbank_is_what_sherpa_onnx_computes(sherpa_export):
    _, _, out, waves, _, _ = sherpa_export
    d = sherpa_dir(out, "asr", streaming=True)
    recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
        tokens=str(d / "tokens.txt"), encoder=str(d / "encoder.onnx"), decoder=str(d / "decoder.onnx"),
        joiner=str(d / "joiner.onnx"), num_threads=1)
    for samples in waves[:2]:
        expected = fbank(samples)
        stream = recognizer.create_stream()
        stream.accept_waveform(16000, samples)
        stream.input_finished()
        frames = np.array(stream.get_frames(0, expected.shape[0])).reshape(-1, 80)
        assert expected.shape[0] == (samples.size + 80) // 160
        np.testing.assert_allclose(frames, expected.numpy(), rtol=0, atol=1e-5)


@needs_sherpa
def test_sherpa_graphs_have_the_names_states_and_metadata_sherpa_onnx_reads(sherpa_export):
    """Offline: x, x_lens -> encoder_out, encoder_out_lens; y -> decoder_out; (encoder_out, decoder_out) -> logit.
    Streaming: the states sherpa-onnx builds from the metadata lists have the shapes the encoder graph declares."""
    config, model, out, _, _, _ = sherpa_export
    for task in config.model.tasks:
        d = sherpa_dir(out, task)
        sessions = {g: onnxruntime.InferenceSession(str(d / f"{g}.onnx")) for g in ("encoder", "decoder", "joiner")}
        names = {g: ([i.name for i in s.get_inputs()], [o.name for o in s.get_outputs()]) for g, s in sessions.items()}
        assert names == {"encoder": (["x", "x_lens"], ["encoder_out", "encoder_out_lens"]),
                         "decoder": (["y"], ["decoder_out"]), "joiner": (["encoder_out", "decoder_out"], ["logit"])}
        meta = onnx_metadata(d / "decoder.onnx")
        assert (meta["vocab_size"], meta["context_size"]) == (str(model.heads[task].vocab_size), "2")
        assert onnx_metadata(d / "encoder.onnx")["model_type"] == "zipformer2"
        assert (d / "tokens.txt").read_bytes() == (out / f"tokens-{task}.txt").read_bytes()

        encoder = onnxruntime.InferenceSession(str(sherpa_dir(out, task, streaming=True) / "encoder.onnx"))
        meta = onnx_metadata(sherpa_dir(out, task, streaming=True) / "encoder.onnx")
        lists = {k: [int(v) for v in meta[k].split(",")] for k in ("encoder_dims", "num_encoder_layers",
                 "cnn_module_kernels", "left_context_len", "query_head_dims", "value_head_dims", "num_heads")}
        expected = []
        for i, layers in enumerate(lists["num_encoder_layers"]):
            dim, left, heads = lists["encoder_dims"][i], lists["left_context_len"][i], lists["num_heads"][i]
            key, value, conv = lists["query_head_dims"][i] * heads, lists["value_head_dims"][i] * heads, \
                lists["cnn_module_kernels"][i] // 2
            expected += [[left, "N", key], [1, "N", left, 3 * dim // 4], [left, "N", value], [left, "N", value],
                         ["N", dim, conv], ["N", dim, conv]] * layers
        expected += [["N", 128, 3, 19], ["N"]]
        inputs = encoder.get_inputs()
        assert inputs[0].name == "x" and inputs[0].shape == ["N", int(meta["T"]), 80]
        assert [i.shape for i in inputs[1:]] == expected
        assert len(lists["encoder_dims"]) == (2 if task == "asr" else 3)  # ST: ENC_asr's 2 stacks, ENC_st's 1
        assert [o.name for o in encoder.get_outputs()] == ["encoder_out"] + [f"new_{i.name}" for i in inputs[1:]]


@needs_sherpa
def test_sherpa_verification_readme_and_errors(sherpa_export, tmp_path, capsys):
    config, model, out, waves, _, output = sherpa_export
    rows = {tuple(line.split()[:2]): line.split()[2] for line in output.splitlines()
            if line.startswith("sherpa-onnx")}
    assert rows == {(f, t): "2/2" for f in ("sherpa-onnx", "sherpa-onnx-streaming") for t in ("asr", "st")}, output
    assert "asr WER" in output and "with up to 2 symbols per frame" in output and "st BLEU" in output
    readme = (out / "README.txt").read_text(encoding="utf-8")
    for task in config.model.tasks:
        for streaming in (False, True):
            assert str(sherpa_dir(Path("."), task, streaming) / "encoder.onnx") in readme
    assert f"--blank-penalty={config.decode.blank_penalty_st:g}" in readme and "sherpa-onnx-offline" in readme
    exp = out.parent
    base = ["export", "--exp-dir", str(exp), "--checkpoint", str(exp / "epoch-1.pt"), "--out-dir", str(tmp_path),
            "--sherpa-onnx"]
    assert cli.main(base + ["--streaming", "--set", "model.st_encoder.eval_chunk_size=32"]) == 2
    assert "--chunk-size" in capsys.readouterr().err
    assert cli.main(base + ["--set", "data.tgt_bpe_model="]) == 2
    assert "data.tgt_bpe_model" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="positive"):
        SherpaOfflineRunner(sherpa_dir(out, "asr"), blank_penalty=-1.0)
    # A model whose greedy search emits <unk> everywhere: sherpa-onnx cannot, those utterances are left out.
    unk_model = copy.deepcopy(model)
    with torch.no_grad():
        for head in unk_model.heads.values():
            head.joiner.output_linear.bias[2] += 100.0
    rows, notes = verify_sherpa(unk_model, export_metadata(config, model), out, waves[:2], False, None)
    assert [(r.format, r.task, r.identical, r.total) for r in rows] == [("sherpa-onnx", "asr", 0, 0),
                                                                        ("sherpa-onnx", "st", 0, 0)]
    assert len(notes) == 2 and all("2 utterance(s)" in n and "<unk>" in n for n in notes), notes
