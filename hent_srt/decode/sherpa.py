"""Decoding audio with sherpa-onnx (PyPI ``sherpa-onnx``) from a ``hent-srt export --sherpa-onnx`` directory.

sherpa-onnx runs its own feature extraction and search, so this is a runner from audio, not a transducer step:
:class:`SherpaOfflineRunner` wraps ``sherpa_onnx.OfflineRecognizer`` (one head's ``encoder.onnx``,
``decoder.onnx``, ``joiner.onnx`` and ``tokens.txt`` in ``<export>/sherpa-onnx/<task>/``) and
:class:`SherpaOnlineRunner` wraps ``sherpa_onnx.OnlineRecognizer`` (the chunk-by-chunk zipformer2 graphs in
``<export>/sherpa-onnx-streaming/<task>/``). Both take 16 kHz mono waveforms (float samples in [-1, 1]) and return
token ids per utterance. The layout of the graphs is described in :mod:`hent_srt.export.sherpa_onnx`.

What sherpa-onnx does, and how it compares with hent-srt's own greedy search
(:func:`hent_srt.search.greedy.greedy_search`):

- features: kaldi-native-fbank, 80 bins, 25 ms / 10 ms, no dither, ``snip_edges`` false, low 20 Hz, high
  -400 Hz; :func:`fbank` computes the same with the ``kaldi-native-fbank`` package, so hent-srt can search the
  features sherpa-onnx sees;
- search: greedy with at most one symbol per encoder frame, the start context ``[-1] * (c - 1) + [blank]``,
  ``logit[blank] -= blank_penalty`` only for a positive penalty, and ``<unk>`` (when ``tokens.txt`` has it)
  treated as blank: never emitted, the context unchanged. On the same features and with
  ``max_sym_per_frame=1`` it therefore gives hent-srt's hypotheses except where hent-srt emits ``<unk>``;
- streaming: a chunk of ``T = 2C + 13`` feature frames (C = encoder chunk at 50 Hz) is decoded once more than
  ``T`` frames past the last chunk's start are available, and the start moves by ``2C``; frames after the last
  such chunk are never decoded, so :class:`SherpaOnlineRunner` appends ``tail_padding_frames`` of silence
  (default ``T``) before declaring the input finished.

Token ids: sherpa-onnx reports token strings, so the runners give the recognizer a copy of ``tokens.txt`` whose
symbols are the ids themselves (``<unk>`` kept where the export has it, so that sherpa-onnx treats it as it
would with the real file) and read the ids back exactly.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hent_srt.decode.runtimes import graph_file, onnx_metadata
from hent_srt.search.step import check_penalty, check_positive_int

SHERPA_DIR = "sherpa-onnx"
SHERPA_STREAMING_DIR = "sherpa-onnx-streaming"
ENCODER_GRAPH = "encoder"
DECODER_GRAPH = "decoder"
JOINER_GRAPH = "joiner"
TOKENS_FILE = "tokens.txt"
README_FILE = "README.txt"
SAMPLE_RATE = 16000
FEATURE_DIM = 80
UNK = "<unk>"


def sherpa_dir(export_dir: str | Path, task: str, streaming: bool = False) -> Path:
    """``<export_dir>/sherpa-onnx/<task>`` (``sherpa-onnx-streaming`` for the chunk-by-chunk graphs)."""
    return Path(export_dir) / (SHERPA_STREAMING_DIR if streaming else SHERPA_DIR) / task


def import_sherpa_onnx():
    """The ``sherpa_onnx`` module, or a ValueError saying how to install it."""
    try:
        import sherpa_onnx
    except ImportError as err:
        raise ValueError("sherpa-onnx is not installed; install it with `pip install 'hent-srt[export]'`") from err
    return sherpa_onnx


def fbank(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """The features sherpa-onnx computes from ``samples`` (1-D float, [-1, 1]): (T, 80) float32 log-mel fbank,
    T = (num_samples + 80) // 160 at 16 kHz (kaldi-native-fbank, options of the module docstring)."""
    try:
        import kaldi_native_fbank as knf
    except ImportError as err:
        raise ValueError("kaldi-native-fbank is not installed; install it with `pip install 'hent-srt[export]'`") from err
    samples = check_waveform(samples, sample_rate)
    options = knf.FbankOptions()
    options.frame_opts.samp_freq = sample_rate
    options.frame_opts.dither = 0.0
    options.frame_opts.snip_edges = False
    options.mel_opts.num_bins = FEATURE_DIM
    options.mel_opts.low_freq = 20.0
    options.mel_opts.high_freq = -400.0
    extractor = knf.OnlineFbank(options)
    extractor.accept_waveform(sample_rate, samples.tolist())
    extractor.input_finished()
    frames = [extractor.get_frame(i) for i in range(extractor.num_frames_ready)]
    return torch.tensor(np.array(frames, dtype=np.float32).reshape(-1, FEATURE_DIM))


def check_waveform(samples: np.ndarray, sample_rate: int, name: str = "waveform") -> np.ndarray:
    """``samples`` as a 1-D float32 array; ValueError unless mono 16 kHz float audio."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"{name}: sherpa-onnx models of hent-srt take {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; "
                         "resample it first (e.g. lhotse's cut.resample(16000))")
    samples = np.asarray(samples)
    if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
        raise ValueError(f"{name}: expected 1-D float samples in [-1, 1], got {samples.dtype} {samples.shape}")
    return samples.astype(np.float32, copy=False)


def load_audio(path: str | Path) -> np.ndarray:
    """Samples of a 16 kHz mono audio file (anything soundfile reads) as float32 in [-1, 1]."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {path} not found")
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if samples.shape[1] != 1:
        raise ValueError(f"{path}: {samples.shape[1]} channels; sherpa-onnx decodes mono audio")
    return check_waveform(samples[:, 0], rate, str(path))


def read_tokens(path: Path) -> list[tuple[str, int]]:
    """(symbol, id) lines of a sherpa-onnx ``tokens.txt``."""
    if not path.is_file():
        raise ValueError(f"{path} not found; export it with `hent-srt export --sherpa-onnx`")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise ValueError(f"{path}:{number}: expected '<symbol> <id>', got {line!r}")
        entries.append((fields[0], int(fields[1])))
    return entries


class _Runner:
    """What both runners share: the graph files of ``model_dir``, the metadata of its encoder, and the id-named
    token table (module docstring) in a temporary directory that lives as long as the runner."""

    def __init__(self, model_dir: str | Path, int8: bool, num_threads: int, blank_penalty: float | None) -> None:
        self.sherpa_onnx = import_sherpa_onnx()
        check_positive_int("num_threads", num_threads)
        self.model_dir = Path(model_dir)
        self.graphs = [graph_file(self.model_dir, g, int8) for g in (ENCODER_GRAPH, DECODER_GRAPH, JOINER_GRAPH)]
        for path in self.graphs:
            if not path.is_file():
                raise ValueError(f"{path} not found; export it with `hent-srt export --sherpa-onnx"
                                 f"{' --int8' if int8 else ''}`")
        self.metadata = onnx_metadata(self.graphs[0])
        if "task" not in self.metadata:
            raise ValueError(f"{self.graphs[0]} has no hent-srt metadata; export it with `hent-srt export --sherpa-onnx`")
        self.task = self.metadata["task"]
        if blank_penalty is None:
            blank_penalty = float(self.metadata.get("blank_penalty", 0.0))
        check_penalty(blank_penalty)
        if blank_penalty < 0:
            raise ValueError(f"blank_penalty={blank_penalty}: sherpa-onnx applies only positive blank penalties")
        self.blank_penalty = float(blank_penalty)
        self.num_threads = num_threads
        self._tmp = tempfile.TemporaryDirectory(prefix="hent_srt_sherpa_")
        self.tokens = str(Path(self._tmp.name) / TOKENS_FILE)
        entries = read_tokens(self.model_dir / TOKENS_FILE)
        Path(self.tokens).write_text("".join(f"{symbol if symbol in ('<blk>', UNK) else f'#{i}'} {i}\n"
                                             for symbol, i in entries), encoding="utf-8")

    @staticmethod
    def token_ids(symbols: Sequence[str]) -> list[int]:
        """Ids of the id-named symbols sherpa-onnx reports."""
        return [int(symbol[1:]) for symbol in symbols]


class SherpaOfflineRunner(_Runner):
    """``sherpa_onnx.OfflineRecognizer`` (greedy search) of one head's whole-utterance graphs in ``model_dir``.

    Args:
        model_dir: ``<export>/sherpa-onnx/<task>`` (:func:`sherpa_dir`).
        int8: use the ``*.int8.onnx`` graphs.
        num_threads: onnxruntime threads.
        blank_penalty: subtracted from the blank logit (>= 0); None: the export's default for this task.
    """

    def __init__(self, model_dir: str | Path, int8: bool = False, num_threads: int = 1,
                 blank_penalty: float | None = None) -> None:
        super().__init__(model_dir, int8, num_threads, blank_penalty)
        encoder, decoder, joiner = (str(p) for p in self.graphs)
        self.recognizer = self.sherpa_onnx.OfflineRecognizer.from_transducer(
            encoder=encoder, decoder=decoder, joiner=joiner, tokens=self.tokens, num_threads=num_threads,
            sample_rate=SAMPLE_RATE, feature_dim=FEATURE_DIM, decoding_method="greedy_search",
            blank_penalty=self.blank_penalty)

    def decode(self, waveforms: Sequence[np.ndarray], batch_size: int = 8) -> list[list[int]]:
        """Token ids of each 16 kHz waveform, decoded ``batch_size`` utterances per encoder call."""
        check_positive_int("batch_size", batch_size)
        out: list[list[int]] = []
        for start in range(0, len(waveforms), batch_size):
            streams = []
            for i, samples in enumerate(waveforms[start : start + batch_size], start):
                stream = self.recognizer.create_stream()
                stream.accept_waveform(SAMPLE_RATE, check_waveform(samples, SAMPLE_RATE, f"waveform {i}"))
                streams.append(stream)
            self.recognizer.decode_streams(streams)
            out += [self.token_ids(s.result.tokens) for s in streams]
        return out


class SherpaOnlineRunner(_Runner):
    """``sherpa_onnx.OnlineRecognizer`` (greedy search) of one head's streaming graphs in ``model_dir``.

    Arguments as :class:`SherpaOfflineRunner`, and ``tail_padding_frames``: frames (10 ms) of silence appended to
    every utterance so that its last frames are decoded (default: one chunk, ``T`` of the export)."""

    def __init__(self, model_dir: str | Path, int8: bool = False, num_threads: int = 1,
                 blank_penalty: float | None = None, tail_padding_frames: int | None = None) -> None:
        super().__init__(model_dir, int8, num_threads, blank_penalty)
        if "decode_chunk_len" not in self.metadata:
            raise ValueError(f"{self.graphs[0]} is not a streaming graph; export one with "
                             "`hent-srt export --sherpa-onnx --streaming` (causal models)")
        self.chunk_frames = int(self.metadata["T"])
        self.shift_frames = int(self.metadata["decode_chunk_len"])
        self.tail_padding_frames = self.chunk_frames if tail_padding_frames is None else tail_padding_frames
        if self.tail_padding_frames < 0:
            raise ValueError(f"tail_padding_frames must be >= 0, got {tail_padding_frames}")
        encoder, decoder, joiner = (str(p) for p in self.graphs)
        self.recognizer = self.sherpa_onnx.OnlineRecognizer.from_transducer(
            tokens=self.tokens, encoder=encoder, decoder=decoder, joiner=joiner, num_threads=num_threads,
            sample_rate=SAMPLE_RATE, feature_dim=FEATURE_DIM, decoding_method="greedy_search",
            blank_penalty=self.blank_penalty)

    def padded(self, samples: np.ndarray) -> np.ndarray:
        """``samples`` with the tail padding appended (what the recognizer receives)."""
        return np.concatenate([samples, np.zeros(self.tail_padding_frames * SAMPLE_RATE // 100, dtype=np.float32)])

    def decoded_frames(self, num_frames: int) -> int:
        """Leading feature frames that the recognizer's chunks read from an input of ``num_frames`` frames (module
        docstring): ``2C (K - 1) + T`` for the K chunks with start ``2Ck`` and ``2Ck + T < num_frames``."""
        if num_frames <= self.chunk_frames:
            return 0
        chunks = (num_frames - self.chunk_frames - 1) // self.shift_frames + 1
        return self.shift_frames * (chunks - 1) + self.chunk_frames

    def decode(self, waveforms: Sequence[np.ndarray]) -> list[list[int]]:
        """Token ids of each 16 kHz waveform; all utterances are decoded as concurrent streams."""
        streams = []
        for i, samples in enumerate(waveforms):
            stream = self.recognizer.create_stream()
            stream.accept_waveform(SAMPLE_RATE, self.padded(check_waveform(samples, SAMPLE_RATE, f"waveform {i}")))
            stream.input_finished()
            streams.append(stream)
        while True:
            ready = [s for s in streams if self.recognizer.is_ready(s)]
            if not ready:
                break
            self.recognizer.decode_streams(ready)
        return [self.token_ids(self.recognizer.get_result_all(s).tokens) for s in streams]
