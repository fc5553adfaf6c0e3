"""Real streaming decoding equals simulated streaming (chunk-masked whole-utterance forward + greedy search) on a
tiny random causal hierarchical HENT-SRT; state stacking, partial results and validation."""

from __future__ import annotations

import pytest
import torch

from hent_srt.config import EncoderConfig, ModelConfig
from hent_srt.decode.streaming import StreamingDecoder, resolve_chunking, stack_states, unstack_states
from hent_srt.model.hent import build_model
from hent_srt.search.greedy import greedy_search

FEAT = 20
ASR_CHUNK, ASR_LEFT = 8, 16
ST_CHUNK, ST_LEFT = 16, 16


def encoder(num_stacks: int, output_ds: int, chunk: int, left: int) -> EncoderConfig:
    return EncoderConfig(
        num_encoder_layers=(1,) * num_stacks, downsampling_factor=(1, 2)[:num_stacks], encoder_dim=(32,) * num_stacks,
        encoder_unmasked_dim=(32,) * num_stacks, num_heads=(2,) * num_stacks, feedforward_dim=(48,) * num_stacks,
        cnn_module_kernel=(7,) * num_stacks, query_head_dim=8, value_head_dim=4, pos_head_dim=2, pos_dim=8,
        output_downsampling_factor=output_ds, causal=True, chunk_size=(chunk, -1), left_context_frames=(left, -1),
        eval_chunk_size=chunk, eval_left_context_frames=left,
    )


@pytest.fixture(scope="module")
def setup():
    """A random causal hier model whose joiners are sharpened, blank penalties at the median blank margin (so
    hypotheses mix emissions and blanks), and utterances shorter than one chunk, exactly one chunk, partial last
    chunks, and longer than the left context (feature frames T, 50 Hz frames (T - 7) // 2 = 5, 8, 21, 33, 40)."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        feature_dim=FEAT, subsampling_channels=(2, 4, 8), asr_encoder=encoder(2, 2, ASR_CHUNK, ASR_LEFT),
        st_encoder=encoder(2, 1, ST_CHUNK, ST_LEFT), decoder_dim=16, joiner_dim=16, asr_vocab_size=12,
        st_vocab_size=10,
    )
    model = build_model(cfg).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("chunkwise_conv_scale"):  # zero at init: make chunk-edge effects visible
                param.normal_(0.0, 0.5)
        model.encoder_embed.convnext.pointwise_conv2.weight.mul_(100.0)  # init scale 0.01 hides its context
        for head in model.heads.values():
            head.joiner.encoder_proj.weight.mul_(10.0)
            head.joiner.output_linear.weight.mul_(4.0)
    feats = [10.0 * torch.randn(t, FEAT) for t in (17, 23, 50, 74, 87)]
    penalties = {}
    with torch.no_grad():
        enc = model.encode(feats[-1].unsqueeze(0), torch.tensor([feats[-1].shape[0]]))
        for task, head in model.heads.items():
            dec = head.predict(torch.tensor([[-1, 0]]))
            logits = head.join(head.project_encoder(enc[task].out[0]), dec.expand(enc[task].out.shape[1], -1))
            margin = logits[:, 0] - logits[:, 1:].max(dim=-1).values
            penalties[task] = round(float(margin.median()), 3)
    return model, feats, penalties


def simulated(model, x, task, penalty, max_sym):
    """Greedy hypothesis of the chunk-masked whole-utterance forward of one utterance."""
    with torch.no_grad():
        enc = model.encode(x.unsqueeze(0), torch.tensor([x.shape[0]]), ASR_CHUNK, ASR_LEFT, ST_CHUNK, ST_LEFT)[task]
        head = model.heads[task]
        return greedy_search(head, head.project_encoder(enc.out), enc.lens, penalty, max_sym)[0]


def test_streaming_equals_simulated_streaming_for_both_tasks(setup):
    model, feats, bp = setup
    st_penalties = (bp["st"], bp["st"] - 0.3)
    decoder = StreamingDecoder(model, ASR_CHUNK, ASR_LEFT, ST_CHUNK, ST_LEFT, blank_penalty_asr=bp["asr"],
                               blank_penalties_st=st_penalties, max_sym_per_frame_asr=2, max_sym_per_frame_st=3,
                               keep_encoder_out=True)
    streams = decoder.decode_features(feats)  # all five streams concurrently, ending at different rounds
    emitted = st_tokens = st_frames = 0
    for x, stream in zip(feats, streams):
        assert stream.done
        with torch.no_grad():
            enc = model.encode(x.unsqueeze(0), torch.tensor([x.shape[0]]), ASR_CHUNK, ASR_LEFT, ST_CHUNK, ST_LEFT)
        for task in ("asr", "st"):
            streamed = torch.cat(stream.encoder_out[task])
            assert streamed.shape == enc[task].out[0].shape
            torch.testing.assert_close(streamed, enc[task].out[0], atol=1e-4, rtol=1e-4)
        ref = simulated(model, x, "asr", bp["asr"], 2)
        assert stream.tokens("asr") == ref
        emitted += len(ref)
        for p in st_penalties:
            ref = simulated(model, x, "st", p, 3)
            assert stream.tokens("st", p) == ref
            emitted += len(ref)
            st_tokens += len(ref)
            st_frames += model.output_frames(x.shape[0])["st"]
    assert emitted > 50
    assert st_tokens < 0.8 * 3 * st_frames  # not saturated: several symbols on some frames, blanks on others


def test_features_arriving_in_odd_pieces_give_the_same_tokens_and_partial_results_are_prefixes(setup):
    model, feats, bp = setup
    decoder = StreamingDecoder(model, ASR_CHUNK, ASR_LEFT, ST_CHUNK, ST_LEFT, blank_penalty_asr=bp["asr"],
                               blank_penalties_st=(bp["st"],), max_sym_per_frame_st=3)
    x = feats[3]
    stream = decoder.new_stream("u")
    partial = []
    for start in range(0, x.shape[0], 7):
        stream.accept_features(x[start : start + 7])
        decoder.step([stream])
        partial.append((list(stream.tokens("asr")), list(stream.tokens("st"))))
    stream.input_finished()
    decoder.step([stream])
    final_asr, final_st = stream.tokens("asr"), stream.tokens("st")
    assert final_st == simulated(model, x, "st", bp["st"], 3)
    assert final_asr == simulated(model, x, "asr", bp["asr"], 1)
    assert any(0 < len(st) < len(final_st) for _, st in partial)  # partial ST output before the end
    for asr, st in partial:
        assert final_asr[: len(asr)] == asr and final_st[: len(st)] == st
    # Token times: the end of the audio chunk that produced them, capped at the utterance's end.
    times = stream.times("st")
    assert times == sorted(times) and times[-1] <= x.shape[0] * 0.01 + 1e-9
    # ENC_st chunk j needs ENC_asr chunks up to 2j + 1, i.e. feature frames up to 2 x 16 (j + 1) + 13.
    chunk_ends = {round(0.01 * min(2 * ST_CHUNK * (j + 1) + 13, x.shape[0]), 6) for j in range(x.shape[0])}
    assert {round(t, 6) for t in times} <= chunk_ends
    assert round(times[0], 6) < 0.01 * x.shape[0]  # the first ST token came before the end of the input


def test_state_stacking_round_trip():
    model = build_model(ModelConfig(feature_dim=FEAT, subsampling_channels=(2, 4, 8),
                                    asr_encoder=encoder(2, 2, 8, 16), st_encoder=encoder(2, 1, 8, 16),
                                    decoder_dim=16, joiner_dim=16, asr_vocab_size=12, st_vocab_size=10))
    states = [model.encoder.init_states(1, left_context_frames=16) for _ in range(3)]
    for k, s in enumerate(states):
        for t in s:
            t.fill_(k)
    stacked = stack_states(states)
    assert stacked[0].shape[1] == 3 and stacked[4].shape[0] == 3 and stacked[-1].shape == (3,)
    for k, back in enumerate(unstack_states(stacked)):
        assert all(torch.equal(a, b) for a, b in zip(back, states[k]))


def test_validation(setup):
    model, _, _ = setup
    with pytest.raises(ValueError, match="left context"):
        StreamingDecoder(model, 8, -1)
    with pytest.raises(ValueError, match="chunk size"):
        StreamingDecoder(model, 0, 16)
    with pytest.raises(ValueError, match="divisible"):
        StreamingDecoder(model, 7, 16)
    with pytest.raises(ValueError, match="max_sym_per_frame_st"):
        StreamingDecoder(model, max_sym_per_frame_st=0)
    offline = build_model(ModelConfig(feature_dim=FEAT, subsampling_channels=(2, 4, 8), decoder_dim=16,
                                      joiner_dim=16, asr_vocab_size=12, st_vocab_size=10, tasks=("asr",)))
    with pytest.raises(ValueError, match="causal"):
        resolve_chunking(offline.encoder, 64, 128, "asr encoder")
    stream = StreamingDecoder(model).new_stream("s")
    with pytest.raises(ValueError, match="feature_dim"):
        stream.accept_features(torch.zeros(5, FEAT + 1))
    stream.input_finished()
    with pytest.raises(ValueError, match="input_finished"):
        stream.accept_features(torch.zeros(5, FEAT))


def test_streaming_torchscript_export_gives_the_pytorch_streaming_hypotheses(setup, tmp_path):
    """model-streaming.pt (chunking baked in, traced on two streams) decodes five concurrent streams of other
    lengths, and one stream alone, to the PyTorch streaming decoder's tokens and times; the encoder outputs
    agree to float rounding."""
    from hent_srt.decode.runtimes import load_streaming_torchscript
    from hent_srt.decode.streaming import ModelGraphs
    from hent_srt.export.streaming import export_streaming_torchscript

    model, feats, bp = setup
    metadata = {"tasks": "asr,st", "hierarchical": "1", "feature_dim": str(FEAT), "context_size": "2",
                "blank_id": "0"}
    path = export_streaming_torchscript(ModelGraphs(model, ASR_CHUNK, ASR_LEFT, ST_CHUNK, ST_LEFT), metadata,
                                        tmp_path / "model-streaming.pt")
    graphs = load_streaming_torchscript(path)
    assert (graphs.asr.chunk_size, graphs.asr.left_context_frames) == (ASR_CHUNK, ASR_LEFT)
    assert (graphs.st.chunk_size, graphs.st.left_context_frames) == (ST_CHUNK, ST_LEFT)
    options = {"blank_penalty_asr": bp["asr"], "blank_penalties_st": (bp["st"],), "max_sym_per_frame_asr": 2,
               "max_sym_per_frame_st": 3, "keep_encoder_out": True}
    reference = StreamingDecoder(model, ASR_CHUNK, ASR_LEFT, ST_CHUNK, ST_LEFT, **options)
    scripted = StreamingDecoder(graphs, **options)
    emitted = 0
    with torch.jit.optimized_execution(False):
        for batch in (feats, feats[2:3]):
            expected, got = reference.decode_features(batch), scripted.decode_features(batch)
            emitted += sum(len(s.tokens("st")) for s in expected)
            for want, have in zip(expected, got):
                for task in ("asr", "st"):
                    assert have.tokens(task) == want.tokens(task) and have.times(task) == want.times(task)
                    torch.testing.assert_close(torch.cat(have.encoder_out[task]), torch.cat(want.encoder_out[task]),
                                               rtol=1e-5, atol=1e-5)
    assert emitted > 20
    with pytest.raises(ValueError, match="chunking fixed"):
        StreamingDecoder(graphs, chunk_size=16)
