"""A tiny random HENT-SRT experiment directory (config.yaml, epoch checkpoints, character tokenizers) and generated
tone audio, shared by the decode and translate tests."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sentencepiece as spm
import soundfile as sf
import torch
from lhotse import CutSet, MonoCut, Recording

from hent_srt.config import Config, DecodeConfig, EncoderConfig, ModelConfig, dump_config
from hent_srt.data.schema import make_supervision
from hent_srt.model.hent import build_model
from hent_srt.train.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread (for the modules that ask for it): on a shared 2-core machine more only spin."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def train_chars(path: Path, text: str) -> Path:
    """A character sentencepiece model with hent-srt's id layout (<blk>=0, <sos/eos>=1, <unk>=2)."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter([text] * 4), model_writer=model, vocab_size=100,
                                   model_type="char", character_coverage=1.0, hard_vocab_limit=False,
                                   user_defined_symbols=["<blk>", "<sos/eos>"], unk_id=2, bos_id=-1, eos_id=-1,
                                   minloglevel=2)
    path.write_bytes(model.getvalue())
    return path


def micro_encoder(num_stacks: int, output_ds: int, causal: bool) -> EncoderConfig:
    return EncoderConfig(num_encoder_layers=(1,) * num_stacks, downsampling_factor=(1, 2)[:num_stacks],
                         encoder_dim=(32,) * num_stacks, encoder_unmasked_dim=(32,) * num_stacks,
                         num_heads=(2,) * num_stacks, feedforward_dim=(48,) * num_stacks,
                         cnn_module_kernel=(7,) * num_stacks, query_head_dim=8, value_head_dim=8, pos_head_dim=4,
                         pos_dim=16, output_downsampling_factor=output_ds, causal=causal,
                         chunk_size=(16, -1) if causal else (-1,), left_context_frames=(32, -1) if causal else (-1,),
                         eval_chunk_size=16, eval_left_context_frames=32)


@dataclass
class TinyExperiment:
    """``dir`` holds config.yaml and epoch-1.pt / epoch-2.pt (with model_avg and batch_idx_train)."""

    dir: Path
    config: Config
    model: torch.nn.Module


def make_experiment(root: Path, causal: bool = False, seed: int = 0) -> TinyExperiment:
    """A random micro HENT-SRT whose ASR and ST blank penalties make it emit tokens on tone audio; two epochs."""
    root.mkdir(parents=True, exist_ok=True)
    src = train_chars(root / "src.model", "hola mundo que tal")
    tgt = train_chars(root / "tgt.model", "hello world how are you")
    vocab = {p: spm.SentencePieceProcessor(model_file=str(p)).get_piece_size() for p in (src, tgt)}
    model_cfg = ModelConfig(subsampling_channels=(4, 8, 16), asr_encoder=micro_encoder(2, 2, causal),
                            st_encoder=micro_encoder(1, 1, causal), decoder_dim=24, joiner_dim=24,
                            asr_vocab_size=vocab[src], st_vocab_size=vocab[tgt])
    config = Config(model=model_cfg, decode=DecodeConfig(method="greedy", beam=3, max_sym_per_frame=2,
                                                         blank_penalty_asr=0.0, blank_penalty_st=0.0))
    config.data.src_bpe_model, config.data.tgt_bpe_model = str(src), str(tgt)
    torch.manual_seed(seed)
    model = build_model(config.model, config.loss).eval()
    with torch.no_grad():  # joiners centred on the mean encoder output and scaled, so tokens follow the audio
        x = torch.randn(2, 300, 80, generator=torch.Generator().manual_seed(seed)) + 5.0
        encoded = model.encode(x, torch.tensor([300, 300]))
        for task, head in model.heads.items():
            proj = head.joiner.encoder_proj
            proj.weight.mul_(20.0)
            proj.bias.copy_(-(proj.weight @ encoded[task].out.mean((0, 1))))
            head.joiner.output_linear.weight.mul_(3.0)
    (root / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    state = model.state_dict()
    shifted = {k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}
    save_checkpoint(root / "epoch-1.pt", model=shifted, model_avg=shifted, batch_idx_train=100)
    save_checkpoint(root / "epoch-2.pt", model=state, model_avg=state, batch_idx_train=200)
    return TinyExperiment(root, config, model)


@pytest.fixture(scope="session")
def tiny_exp(tmp_path_factory) -> TinyExperiment:
    return make_experiment(tmp_path_factory.mktemp("tiny_exp"))


def write_tone(path: Path, freq: float, seconds: float, rate: int, channels: int = 1, seed: int = 0) -> Path:
    """A sine tone with a little noise (and, for more channels, other tones on the other channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    columns = [0.3 * np.sin(2 * np.pi * (freq * (1 + 0.4 * c)) * t * (1 + 0.3 * t)) for c in range(channels)]
    wave = np.stack(columns, axis=1) + 0.01 * rng.standard_normal((t.size, channels))
    sf.write(path, wave.astype(np.float32), rate)
    return path


def audio_cuts(paths: list[Path]) -> CutSet:
    """Cuts in the schema over the first channel of each file (placeholder texts), ids = file stems."""
    cuts = []
    for path in paths:
        rec = Recording.from_file(path, recording_id=path.stem)
        cut = MonoCut(id=path.stem, start=0.0, duration=rec.duration, channel=0, recording=rec)
        cut.supervisions = [make_supervision(path.stem, rec.id, 0.0, rec.duration, 0, "hola", "es", "hello")]
        cuts.append(cut)
    return CutSet.from_cuts(cuts)


@pytest.fixture(scope="session")
def tones(tmp_path_factory) -> dict[int, Path]:
    """One 1.2-second tone file per sampling rate (8, 16 and 44.1 kHz)."""
    root = tmp_path_factory.mktemp("tones")
    return {rate: write_tone(root / f"tone{rate}.wav", 300.0 + rate / 200, 1.2, rate, seed=rate)
            for rate in (8000, 16000, 44100)}


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    """The module's functions, for tests that build their own experiments or audio."""
    return SimpleNamespace(make_experiment=make_experiment, write_tone=write_tone, audio_cuts=audio_cuts,
                           train_chars=train_chars)
