"""Real streaming ASR + ST decoding with a causal HENT-SRT model: one :class:`Stream` per utterance, many at once.

Features (100 Hz fbank) arrive in pieces. A stream turns them into 50 Hz embeddings with the front end's
streaming step, runs ENC_asr chunk by chunk on them, hands the tapped stack's 50 Hz output to ENC_st chunk by
chunk, and continues a greedy transducer search per task (and per ST blank penalty) on every new encoder frame.
After each :meth:`StreamingDecoder.step` every stream holds its partial hypotheses; a :class:`StreamingDecoder`
runs the active streams of each stage as one batch (their states stacked along the batch axis).

Chunking (frames at 50 Hz): ENC_asr uses chunk ``C`` and left context ``L = C · max(L_req // C, 1)`` (what the
chunk mask of the simulated forward allows); ENC_st has its own ``C_st`` and ``L_st`` and reads the tap output
through a buffer, so ``C_st`` need not equal ``C``.

Front end: embedding chunk k (frames ``[kC, (k + 1)C)``) needs feature frames ``[2kC, 2kC + 2C + 13)``: 7 for the
convolutions and 2·3 for the ConvNeXt block's right context. When the input ends, the remaining embeddings are
computed by the front end's full forward over features from ``2(kC - 3)`` to the end (3 frames of left context
for the ConvNeXt block, dropped afterwards), which treats the end exactly as the whole-utterance forward does.
The last, partial encoder chunk is padded and masked (the chunk-masked forward pads a short sequence to one
chunk the same way, see ``ChunkCausalDepthwiseConv1d.forward``).

The computations go through a :class:`StreamingGraphs` object: :class:`ModelGraphs` runs a PyTorch
:class:`HentSrt`; :class:`hent_srt.decode.runtimes.TorchScriptStreamingGraphs` runs the same graphs traced to
TorchScript with the chunking baked in (``hent-srt export --streaming``), so one decoder serves both. The greedy
search is the one frame loop of :mod:`hent_srt.search.greedy`, resumed on each new chunk.

Equality with simulated streaming. For every utterance, the tokens equal those of
:func:`hent_srt.search.greedy.greedy_search` (same blank penalty and ``max_sym_per_frame``) on
``model.encode(x, x_lens, C, L, C_st, L_st)`` computed for that utterance alone (batch of one), up to float
rounding of the encoder output (about 1e-5: an argmax tie closer than that may break the other way).

Token times (for :mod:`hent_srt.decode.latency`): a token emitted while processing embedding chunk k gets the
time ``frame_shift · min(2(k + 1)C + 13, T)`` — the end of the audio the chunk needed, T the utterance's
feature frames — and a token emitted after the end of input gets ``frame_shift · T``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from hent_srt.model.hent import HentSrt
from hent_srt.model.zipformer import STATES_PER_LAYER, Zipformer2
from hent_srt.search.greedy import GreedyHyps, greedy_advance
from hent_srt.search.step import TransducerStep, check_penalty, check_positive_int, start_context

# Feature frames a front-end piece needs beyond 2 x chunk: 7 for the convolutions, 2 x 3 for ConvNeXt's right context.
FRONT_END_CONTEXT = 13
# Embedding frames of left context the ConvNeXt block (7x7, padding 3) needs when the end is recomputed.
CONVNEXT_LEFT = 3
# Shortest feature sequence the front end accepts ((T - 7) // 2 >= 1).
MIN_FEATURE_FRAMES = 9


@dataclass(frozen=True)
class Chunking:
    """Chunk size and left context of one encoder, in frames at 50 Hz (left context a multiple of the chunk)."""

    chunk_size: int
    left_context_frames: int


def resolve_chunking(encoder: Zipformer2, chunk_size: int, left_context_frames: int, name: str) -> Chunking:
    """Check ``chunk_size`` / ``left_context_frames`` for a causal ``encoder`` and round the left context down to
    whole chunks (at least one), as the chunk mask of the simulated forward does; ``name`` labels errors."""
    if not encoder.causal:
        raise ValueError(f"{name}: streaming needs a causal encoder; train with a *_streaming.yaml preset")
    if chunk_size is None or chunk_size < 1:
        raise ValueError(f"{name}: chunk size must be >= 1 frames at 50 Hz for streaming, got {chunk_size}")
    if left_context_frames is None or left_context_frames < 0:
        raise ValueError(
            f"{name}: left context must be >= 0 frames at 50 Hz for streaming (unlimited cannot be cached), "
            f"got {left_context_frames}"
        )
    try:
        chunk, left_chunks = encoder.get_chunk_info(chunk_size, left_context_frames)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from err
    return Chunking(chunk, chunk * left_chunks)


def _state_batch_dim(index: int, num_states: int) -> int:
    """Batch axis of state ``index`` of a Zipformer2 state list (see ``Zipformer2.init_states``)."""
    if index == num_states - 1:
        return 0
    return 1 if index % STATES_PER_LAYER < 4 else 0


def stack_states(states: Sequence[Sequence[Tensor]]) -> list[Tensor]:
    """Per-stream Zipformer2 state lists (each of batch 1 or more) → one list for their concatenated batch."""
    if not states:
        raise ValueError("states: need at least one state list to stack")
    n = len(states[0])
    return [torch.cat([s[i] for s in states], dim=_state_batch_dim(i, n)) for i in range(n)]


def unstack_states(states: Sequence[Tensor]) -> list[list[Tensor]]:
    """Inverse of :func:`stack_states` for streams of batch 1: one state list per batch entry."""
    n = len(states)
    batch = states[-1].shape[0]
    return [[s.narrow(_state_batch_dim(i, n), b, 1) for i, s in enumerate(states)] for b in range(batch)]


class StreamingGraphs(Protocol):
    """The computations of streaming decoding, at fixed chunking (frames at 50 Hz, see the module docstring).

    Attributes: ``asr`` / ``st`` (:class:`Chunking` of ENC_asr / ENC_st; ``st`` None without ENC_st), ``tasks``,
    ``feature_dim``, ``context_size``, ``blank_id``, ``device``. Tensors are batched over N streams; state lists
    are those of ``Zipformer2.init_states`` (stacked with :func:`stack_states`)."""

    asr: Chunking
    st: Chunking | None
    tasks: tuple[str, ...]
    feature_dim: int
    context_size: int
    blank_id: int
    device: torch.device

    def front_init(self, batch: int) -> Tensor:
        """Zero front-end cache of ``batch`` streams."""

    def front_step(self, x: Tensor, x_lens: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, 2C + 13, F) → (embeddings (N, C, D), new cache): ``Conv2dSubsampling.streaming_forward``."""

    def front_full(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, T, F) → (embeddings (N, (T - 7) // 2, D), lengths): the front end's whole-sequence forward."""

    def encoder_init(self, encoder: str, batch: int) -> list[Tensor]:
        """Zero states of ``encoder`` ("asr" | "st") for ``batch`` streams."""

    def encoder_step(
        self, encoder: str, x: Tensor, x_lens: Tensor, states: list[Tensor]
    ) -> tuple[Tensor, Tensor, list[Tensor], Tensor | None]:
        """One chunk x (N, chunk, D_in), x_lens (N,) valid frames → (out (N, T_out, D_out), out_lens, new states,
        tapped stack output (N, chunk, D_tap) for ENC_st when ``encoder`` is "asr" and ENC_st exists, else None)."""

    def encoder_proj(self, task: str, frames: Tensor) -> Tensor:
        """Encoder output frames (..., D_out) → task joiner's encoder projection (..., J)."""

    def step(self, task: str) -> TransducerStep:
        """The predictor step and joiner of ``task`` (:class:`hent_srt.search.step.TransducerStep`)."""


class ModelGraphs:
    """:class:`StreamingGraphs` of a PyTorch :class:`HentSrt` (put in eval mode) at the given chunking; chunk
    arguments as for :class:`StreamingDecoder` (None: the encoder config's eval values)."""

    def __init__(
        self,
        model: HentSrt,
        chunk_size: int | None = None,
        left_context_frames: int | None = None,
        st_chunk_size: int | None = None,
        st_left_context_frames: int | None = None,
    ):
        cfg = model.cfg
        self.model = model.eval()
        self.asr = resolve_chunking(
            model.encoder,
            cfg.asr_encoder.eval_chunk_size if chunk_size is None else chunk_size,
            cfg.asr_encoder.eval_left_context_frames if left_context_frames is None else left_context_frames,
            "asr encoder",
        )
        self.st: Chunking | None = None
        if model.st_encoder is not None:
            self.st = resolve_chunking(
                model.st_encoder,
                cfg.st_encoder.eval_chunk_size if st_chunk_size is None else st_chunk_size,
                cfg.st_encoder.eval_left_context_frames if st_left_context_frames is None else st_left_context_frames,
                "st encoder",
            )
        self.tasks = tuple(cfg.tasks)
        self.feature_dim = cfg.feature_dim
        self.context_size = cfg.context_size
        self.blank_id = next(iter(model.heads.values())).blank_id
        self.device = next(model.parameters()).device
        self.tap = cfg.st_tap_stack if self.st is not None else None

    def front_init(self, batch: int) -> Tensor:
        return self.model.encoder_embed.get_init_states(batch, self.device)

    def front_step(self, x: Tensor, x_lens: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        emb, _, cache = self.model.encoder_embed.streaming_forward(x, x_lens, cache)
        return emb, cache

    def front_full(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.encoder_embed(x, x_lens)

    def _encoder(self, encoder: str) -> tuple[Zipformer2, Chunking]:
        if encoder == "st" and self.st is not None:
            return self.model.st_encoder, self.st
        if encoder == "asr":
            return self.model.encoder, self.asr
        raise ValueError(f"encoder must be 'asr' or (with an ST encoder) 'st', got {encoder!r}")

    def encoder_init(self, encoder: str, batch: int) -> list[Tensor]:
        module, chunking = self._encoder(encoder)
        return module.init_states(batch, self.device, chunking.left_context_frames)

    def encoder_step(
        self, encoder: str, x: Tensor, x_lens: Tensor, states: list[Tensor]
    ) -> tuple[Tensor, Tensor, list[Tensor], Tensor | None]:
        module, _ = self._encoder(encoder)
        tap = self.tap if encoder == "asr" else None
        result = module.streaming_forward(x, x_lens, states, return_stack=tap)
        return result[0], result[1], result[2], (result[3] if tap is not None else None)

    def encoder_proj(self, task: str, frames: Tensor) -> Tensor:
        return self.model.heads[task].project_encoder(frames)

    def step(self, task: str) -> TransducerStep:
        return self.model.heads[task]


@dataclass
class Hypothesis:
    """A greedy hypothesis carried across chunks: tokens, their emission times (seconds, see the module
    docstring), the predictor context (last ``context_size`` tokens, (context_size,) int64) and its projected
    predictor output (J,), computed when the first frames arrive."""

    context: Tensor
    tokens: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    decoder_out: Tensor | None = None


class Stream:
    """Decoding state of one utterance: received features, the front end's cache, both encoders' states and
    input buffers, and one greedy :class:`Hypothesis` per searched (task, blank penalty).

    Feed features with :meth:`accept_features` (any number of frames per call), call :meth:`input_finished`
    after the last, and let :meth:`StreamingDecoder.step` do the work. ``hyps[(task, penalty)]`` hold the
    partial results; :meth:`tokens` and :meth:`text` read them.
    """

    def __init__(self, stream_id: str, feature_dim: int, searches: Sequence[tuple[str, float]], start: list[int]):
        self.stream_id = stream_id
        self.feature_dim = feature_dim
        self.hyps: dict[tuple[str, float], Hypothesis] = {
            key: Hypothesis(torch.tensor(start, dtype=torch.int64)) for key in searches}
        self.num_frames = 0  # feature frames received
        self.finished = False  # no more input
        self._features: list[Tensor] = []
        self._feature_start = 0  # absolute index of the first kept feature frame
        self.pieces_done = 0  # front-end chunks computed
        self.front_flushed = False
        self.front_cache: Tensor | None = None
        self.emb_pending: Tensor | None = None  # (n, C0) embeddings waiting for ENC_asr
        self.tap_pending: Tensor | None = None  # (n, C_tap) tap frames waiting for ENC_st
        self.asr_states: list[Tensor] | None = None
        self.st_states: list[Tensor] | None = None
        self.audio_end = 0.0  # seconds: end of the audio the current computation used
        self.encoder_out: dict[str, list[Tensor]] = {"asr": [], "st": []}  # with keep_encoder_out

    def accept_features(self, features: Tensor) -> None:
        """Append ``features`` (T, feature_dim) float frames at 100 Hz."""
        if self.finished:
            raise ValueError(f"stream {self.stream_id!r}: input_finished() was called; start a new stream")
        if features.dim() != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(
                f"features must be (T, feature_dim={self.feature_dim}), got {tuple(features.shape)}"
            )
        if not features.dtype.is_floating_point:
            raise ValueError(f"features must be a float tensor, got {features.dtype}")
        if features.shape[0] > 0:
            self._features.append(features)
            self.num_frames += features.shape[0]

    def input_finished(self) -> None:
        """Declare the end of the utterance: the next step flushes what is left."""
        self.finished = True

    def features(self, start: int, end: int) -> Tensor:
        """Received feature frames [start, end) (absolute indices), (end - start, feature_dim)."""
        if len(self._features) > 1:
            self._features = [torch.cat(self._features, dim=0)]
        kept = self._features[0]
        return kept[start - self._feature_start : end - self._feature_start]

    def drop_features_before(self, index: int) -> None:
        """Forget feature frames before absolute ``index``."""
        if index <= self._feature_start or not self._features:
            return
        kept = self.features(self._feature_start, self.num_frames)
        self._features = [kept[index - self._feature_start :]]
        self._feature_start = index

    @property
    def done(self) -> bool:
        """True when the input has ended and every stage has consumed it."""
        empty = [t is None or t.shape[0] == 0 for t in (self.emb_pending, self.tap_pending)]
        return self.finished and self.front_flushed and all(empty)

    def tokens(self, task: str, blank_penalty: float | None = None) -> list[int]:
        """Token ids so far of ``task``; ``blank_penalty`` picks among ST penalties (default: the first)."""
        return self._hyp(task, blank_penalty).tokens

    def times(self, task: str, blank_penalty: float | None = None) -> list[float]:
        """Emission time (seconds) of each token of :meth:`tokens`."""
        return self._hyp(task, blank_penalty).times

    def text(self, tokenizer, task: str, blank_penalty: float | None = None) -> str:
        """Partial text of ``task`` through ``tokenizer`` (a :class:`hent_srt.data.tokenizer.Tokenizer`)."""
        return tokenizer.decode([self.tokens(task, blank_penalty)])[0]

    def _hyp(self, task: str, blank_penalty: float | None) -> Hypothesis:
        keys = [k for k in self.hyps if k[0] == task and (blank_penalty is None or k[1] == blank_penalty)]
        if not keys:
            raise ValueError(f"no hypothesis for task={task!r}, blank_penalty={blank_penalty}; have {list(self.hyps)}")
        return self.hyps[keys[0]]


def _cat(a: Tensor | None, b: Tensor) -> Tensor:
    return b if a is None else torch.cat((a, b), dim=0)


def _pad_rows(rows: Sequence[Tensor], length: int) -> Tensor:
    """Frames (n_i, C) → (N, length, C) zero-padded."""
    out = rows[0].new_zeros(len(rows), length, rows[0].shape[1])
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out


class StreamingDecoder:
    """Chunk-by-chunk greedy decoding of many concurrent :class:`Stream` objects with a causal HENT-SRT model.

    Args:
        model: a :class:`HentSrt` whose encoders are causal (put in eval mode here), or ready
            :class:`StreamingGraphs` (e.g. a streaming TorchScript export), whose chunking is fixed.
        chunk_size, left_context_frames: ENC_asr chunking in frames at 50 Hz (None: the config's
            ``eval_chunk_size`` / ``eval_left_context_frames``; published 64 and 128); only with a model.
        st_chunk_size, st_left_context_frames: the same for ENC_st (None: its config's eval values).
        blank_penalty_asr: ASR blank penalty.
        blank_penalties_st: one greedy ST hypothesis per penalty, all on the same encoder output (published 2).
        max_sym_per_frame_asr, max_sym_per_frame_st: most symbols per encoder frame (published ST: 20).
        frame_shift: seconds per feature frame (token times).
        keep_encoder_out: also keep every stream's encoder output frames (``Stream.encoder_out``).
    """

    def __init__(
        self,
        model: HentSrt | StreamingGraphs,
        chunk_size: int | None = None,
        left_context_frames: int | None = None,
        st_chunk_size: int | None = None,
        st_left_context_frames: int | None = None,
        blank_penalty_asr: float = 0.0,
        blank_penalties_st: Sequence[float] = (2.0,),
        max_sym_per_frame_asr: int = 1,
        max_sym_per_frame_st: int = 20,
        frame_shift: float = 0.01,
        keep_encoder_out: bool = False,
    ):
        chunking = (chunk_size, left_context_frames, st_chunk_size, st_left_context_frames)
        if isinstance(model, HentSrt):
            self.graphs: StreamingGraphs = ModelGraphs(model, *chunking)
        elif any(value is not None for value in chunking):
            raise ValueError("these graphs have their chunking fixed: pass no chunk_size / left_context_frames")
        else:
            self.graphs = model
        self.asr = self.graphs.asr
        self.st = self.graphs.st
        check_positive_int("max_sym_per_frame_asr", max_sym_per_frame_asr)
        check_positive_int("max_sym_per_frame_st", max_sym_per_frame_st)
        if not frame_shift > 0:
            raise ValueError(f"frame_shift must be > 0 seconds, got {frame_shift}")
        penalties_st = tuple(blank_penalties_st)
        tasks = self.graphs.tasks
        if "st" in tasks and not penalties_st:
            raise ValueError("blank_penalties_st needs at least one value")
        check_penalty(blank_penalty_asr, "blank_penalty_asr")
        for p in penalties_st:
            check_penalty(p, "blank_penalties_st")
        self.max_sym = {"asr": max_sym_per_frame_asr, "st": max_sym_per_frame_st}
        self.searches: list[tuple[str, float]] = []
        if "asr" in tasks:
            self.searches.append(("asr", float(blank_penalty_asr)))
        if "st" in tasks:
            self.searches += [("st", float(p)) for p in penalties_st]
        self.frame_shift = frame_shift
        self.keep_encoder_out = keep_encoder_out
        self.device = self.graphs.device

    # ------------------------------------------------------------------------------------------------------
    # streams

    def new_stream(self, stream_id: str = "") -> Stream:
        """A fresh stream with zero caches."""
        graphs = self.graphs
        start = start_context(graphs.context_size, graphs.blank_id)
        stream = Stream(stream_id, graphs.feature_dim, self.searches, start)
        stream.front_cache = graphs.front_init(1)
        stream.asr_states = graphs.encoder_init("asr", 1)
        if self.st is not None:
            stream.st_states = graphs.encoder_init("st", 1)
        return stream

    @torch.no_grad()
    def step(self, streams: Sequence[Stream]) -> bool:
        """Do all the work the received input of ``streams`` allows, batched across streams; afterwards every
        stream holds its partial hypotheses. Returns whether anything was computed."""
        progressed = False
        while True:
            did = self._front_end(streams)
            did = self._asr_encoder(streams) or did
            did = self._st_encoder(streams) or did
            if not did:
                return progressed
            progressed = True

    def decode_features(
        self, features: Sequence[Tensor], stream_ids: Sequence[str] | None = None, piece_frames: int | None = None
    ) -> list[Stream]:
        """Decode whole utterances ``features`` [(T_i, F)] as concurrent streams: each round every unfinished
        stream receives its next ``piece_frames`` feature frames (default 2 x chunk, i.e. one chunk of audio
        arriving), then one :meth:`step` runs. Returns the finished streams in input order."""
        piece = 2 * self.asr.chunk_size if piece_frames is None else piece_frames
        if piece < 1:
            raise ValueError(f"piece_frames must be >= 1, got {piece_frames}")
        ids = list(stream_ids) if stream_ids is not None else [str(i) for i in range(len(features))]
        if len(ids) != len(features):
            raise ValueError(f"stream_ids has {len(ids)} entries for {len(features)} feature tensors")
        streams = [self.new_stream(i) for i in ids]
        offset = 0
        while not all(s.finished for s in streams):
            for s, f in zip(streams, features):
                if not s.finished:
                    s.accept_features(f[offset : offset + piece].to(self.device))
                    if offset + piece >= f.shape[0]:
                        s.input_finished()
            offset += piece
            self.step(streams)
        self.step(streams)
        return streams

    # ------------------------------------------------------------------------------------------------------
    # stages

    def _front_end(self, streams: Sequence[Stream]) -> bool:
        """Full front-end pieces of every stream that has them, then the end of finished streams."""
        c = self.asr.chunk_size
        full = [s for s in streams if not s.front_flushed
                and s.num_frames >= 2 * c * (s.pieces_done + 1) + FRONT_END_CONTEXT]
        if full:
            starts = [2 * c * s.pieces_done for s in full]
            x = torch.stack([s.features(a, a + 2 * c + FRONT_END_CONTEXT) for s, a in zip(full, starts)])
            lens = torch.full((len(full),), x.shape[1], dtype=torch.int64, device=self.device)
            cache = torch.cat([s.front_cache for s in full], dim=0)
            emb, cache = self.graphs.front_step(x, lens, cache)
            for b, s in enumerate(full):
                s.front_cache = cache[b : b + 1]
                s.emb_pending = _cat(s.emb_pending, emb[b])
                s.pieces_done += 1
                s.drop_features_before(max(2 * (c * s.pieces_done - CONVNEXT_LEFT), 0))
                s.audio_end = self.frame_shift * min(starts[b] + 2 * c + FRONT_END_CONTEXT, s.num_frames)
        # A stream that just computed a piece flushes on the next pass, after the encoders used the piece, so
        # that the piece's tokens get the piece's time.
        ending = [s for s in streams if s.finished and not s.front_flushed and s not in full
                  and s.num_frames < 2 * c * (s.pieces_done + 1) + FRONT_END_CONTEXT]
        for s in ending:
            self._flush_front_end(s)
        return bool(full or ending)

    def _flush_front_end(self, s: Stream) -> None:
        """Remaining embeddings of a finished stream from the front end's full forward (module docstring)."""
        c = self.asr.chunk_size
        s.front_flushed = True
        s.audio_end = self.frame_shift * s.num_frames
        done = c * s.pieces_done
        context = CONVNEXT_LEFT if done > 0 else 0
        start = 2 * (done - context)
        if s.num_frames - start < MIN_FEATURE_FRAMES:
            return
        x = s.features(start, s.num_frames).unsqueeze(0)
        emb, lens = self.graphs.front_full(x, torch.tensor([x.shape[1]], dtype=torch.int64, device=self.device))
        s.emb_pending = _cat(s.emb_pending, emb[0, context : int(lens[0])])
        s.drop_features_before(s.num_frames)

    def _asr_encoder(self, streams: Sequence[Stream]) -> bool:
        """One ENC_asr chunk for every stream with a full chunk of embeddings (or the rest, once flushed)."""
        c = self.asr.chunk_size
        ready = [s for s in streams if s.emb_pending is not None
                 and (s.emb_pending.shape[0] >= c or (s.front_flushed and s.emb_pending.shape[0] > 0))]
        if not ready:
            return False
        results = self._run_encoder("asr", c, [s.emb_pending for s in ready], [s.asr_states for s in ready])
        for s, (out, stack, used, new_states) in zip(ready, results):
            if self.keep_encoder_out:
                s.encoder_out["asr"].append(out)
            s.emb_pending = s.emb_pending[used:]
            s.asr_states = new_states
            if stack is not None:
                s.tap_pending = _cat(s.tap_pending, stack)
        frames = [r[0] for r in results]
        for key in self.searches:
            if key[0] == "asr" or self.st is None:
                self._greedy(key, ready, frames)
        return True

    def _st_encoder(self, streams: Sequence[Stream]) -> bool:
        """One ENC_st chunk for every stream with a full chunk of tap frames (or the rest, once ENC_asr is done)."""
        if self.st is None:
            return False
        c = self.st.chunk_size

        def asr_done(s: Stream) -> bool:
            return s.front_flushed and (s.emb_pending is None or s.emb_pending.shape[0] == 0)

        ready = [s for s in streams if s.tap_pending is not None
                 and (s.tap_pending.shape[0] >= c or (asr_done(s) and s.tap_pending.shape[0] > 0))]
        if not ready:
            return False
        results = self._run_encoder("st", c, [s.tap_pending for s in ready], [s.st_states for s in ready])
        for s, (out, _, used, new_states) in zip(ready, results):
            if self.keep_encoder_out:
                s.encoder_out["st"].append(out)
            s.tap_pending = s.tap_pending[used:]
            s.st_states = new_states
        frames = [r[0] for r in results]
        for key in self.searches:
            if key[0] == "st":
                self._greedy(key, ready, frames)
        return True

    def _run_encoder(
        self, encoder: str, chunk: int, inputs: Sequence[Tensor], states: Sequence[list[Tensor]]
    ) -> list[tuple[Tensor, Tensor | None, int, list[Tensor]]]:
        """One batched chunk of ``encoder`` ("asr" | "st") on the first ``chunk`` frames of each stream's
        ``inputs`` [(n_i, C_in)] (a shorter rest is padded and masked) with their stacked ``states``.
        Returns per stream (output frames (m_i, C_out), tap frames (k_i, C_tap) or None, input frames used,
        new states)."""
        rows = [x[:chunk] for x in inputs]
        lens = torch.tensor([r.shape[0] for r in rows], dtype=torch.int64, device=self.device)
        out, out_lens, new_states, stack = self.graphs.encoder_step(encoder, _pad_rows(rows, chunk), lens,
                                                                    stack_states(states))
        per_stream = unstack_states(new_states)
        return [(out[b, : int(out_lens[b])], None if stack is None else stack[b, : int(lens[b])], int(lens[b]),
                 per_stream[b]) for b in range(len(rows))]

    # ------------------------------------------------------------------------------------------------------
    # greedy search continued across chunks

    def _greedy(self, key: tuple[str, float], streams: Sequence[Stream], frames: Sequence[Tensor]) -> None:
        """Greedy search of ``key`` = (task, blank penalty) over new frames [(n_i, C)] of each stream, continuing
        each hypothesis with :func:`hent_srt.search.greedy.greedy_advance`; new tokens get the stream's
        current audio end as their time."""
        task, penalty = key
        lens = torch.tensor([f.shape[0] for f in frames], dtype=torch.int64, device=self.device)
        num_frames = int(lens.max())
        if num_frames == 0:
            return
        step = self.graphs.step(task)
        enc = self.graphs.encoder_proj(task, _pad_rows(frames, num_frames))  # (N, T, J)
        hyps = [s.hyps[key] for s in streams]
        contexts = torch.stack([h.context for h in hyps]).to(self.device)  # (N, context_size)
        missing = [i for i, h in enumerate(hyps) if h.decoder_out is None]
        if missing:
            for i, d in zip(missing, step.predict(contexts[missing])):
                hyps[i].decoder_out = d
        batch = GreedyHyps([h.tokens for h in hyps], contexts, torch.stack([h.decoder_out for h in hyps]))
        emitted_before = [len(h.tokens) for h in hyps]
        greedy_advance(step, batch, enc, lens, penalty, self.max_sym[task])
        for i, (h, s) in enumerate(zip(hyps, streams)):
            h.times += [s.audio_end] * (len(h.tokens) - emitted_before[i])
            h.context = batch.contexts[i]
            h.decoder_out = batch.decoder_out[i]
