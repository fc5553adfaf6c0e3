"""HENT-SRT: joint ASR and ST with hierarchical (or shared) Zipformer2 encoders and one transducer per task.

Hussein et al., IWSLT 2025 (arXiv 2506.02157). The graph, for features ``x`` (B, T, 80) at 100 Hz::

    x → Conv2dSubsampling → (B, T', C0) at 50 Hz, T' = (T - 7) // 2
      → ENC_asr (Zipformer2) → f_asr (B, T_asr, C_asr)            → ASR heads
            └ stack ``st_tap_stack`` output (B, T', C_tap) at 50 Hz → ENC_st → f_st (B, T_st, C_st) → ST heads
              (hier; the published tap is the last stack)
    shared: one encoder; both heads read f_asr.

Each task has a head: a predictor (stateless by default), a joiner, the simple-loss projections
(``simple_am_proj``: C_enc → V, ``simple_lm_proj``: D → V, init scale 0.25) and, when ``use_ctc``, a CTC head
(dropout 0.1, Linear(C_enc, V), log-softmax).

Loss per task t (all sums over utterances, float32, autocast off)::

    L_t = s_simple(n) · simple_t + s_pruned(n) · pruned_t + λ_ctc,t · ctc_t + λ_cr,t · cr_t
    s_simple(n) = 1 - (1 - simple_loss_scale) · min(n / warm_step, 1),   s_pruned(n) = 0.1 + 0.9 · min(n / warm_step, 1)
    L = Σ_t scale_t · L_t

with n the raw training step (``train_step``, set by the trainer; see :meth:`HentSrt.loss_scales`).
simple_t is the smoothed RNN-T loss (lm_only_scale = ``lm_scale``, am_only_scale = ``am_scale``) whose arc
occupancies give the prune ranges (width ``prune_range_<task>``, each task its own); pruned_t is the pruned RNN-T
loss on the joiner. With CR-CTC every utterance appears twice (:mod:`hent_srt.model.augment`); the transducer and
CTC terms are then halved and cr_t is the symmetric consistency term of :func:`hent_srt.loss.ctc.cr_ctc_consistency`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from hent_srt.config import EncoderConfig, LossConfig, ModelConfig, SpecAugmentConfig
from hent_srt.loss import do_rnnt_pruning, get_rnnt_prune_ranges, rnnt_loss_pruned, rnnt_loss_smoothed
from hent_srt.loss.ctc import cr_ctc_consistency, ctc_loss
from hent_srt.model.augment import cr_ctc_spec_augment, make_views
from hent_srt.model.joiner import Joiner
from hent_srt.model.predictor import LstmPredictor, StatelessPredictor
from hent_srt.model.scaling import ScaledLinear
from hent_srt.model.subsampling import Conv2dSubsampling
from hent_srt.model.zipformer import Zipformer2

log = logging.getLogger(__name__)

TASKS = ("asr", "st")
BLANK_ID = 0


def build_encoder(cfg: EncoderConfig, input_dim: int, field: str) -> Zipformer2:
    """A Zipformer2 from an :class:`EncoderConfig`; errors name ``field`` (e.g. ``model.st_encoder``).

    A causal encoder's evaluation chunking (``eval_chunk_size``, ``eval_left_context_frames``) is checked here."""
    try:
        encoder = Zipformer2(
            input_dim=input_dim,
            output_downsampling_factor=cfg.output_downsampling_factor,
            downsampling_factor=cfg.downsampling_factor,
            num_encoder_layers=cfg.num_encoder_layers,
            encoder_dim=cfg.encoder_dim,
            encoder_unmasked_dim=cfg.encoder_unmasked_dim,
            query_head_dim=cfg.query_head_dim,
            pos_head_dim=cfg.pos_head_dim,
            value_head_dim=cfg.value_head_dim,
            num_heads=cfg.num_heads,
            feedforward_dim=cfg.feedforward_dim,
            cnn_module_kernel=cfg.cnn_module_kernel,
            pos_dim=cfg.pos_dim,
            causal=cfg.causal,
            chunk_size=cfg.chunk_size if cfg.causal else (-1,),
            left_context_frames=cfg.left_context_frames if cfg.causal else (-1,),
        )
        if cfg.causal:
            encoder.get_chunk_info(cfg.eval_chunk_size, cfg.eval_left_context_frames)
    except ValueError as err:
        raise ValueError(f"{field}: {err}") from err
    return encoder


class TaskHead(nn.Module):
    """Predictor, joiner, simple-loss projections and (optional) CTC head of one task.

    A head is also the PyTorch implementation of the transducer step interface of
    :class:`hent_srt.search.step.TransducerStep` (``blank_id``, ``context_size``, :meth:`predict`,
    :meth:`join`), with :meth:`project_encoder` for the encoder side; put it in eval mode before searching."""

    def __init__(self, cfg: ModelConfig, encoder_dim: int, vocab_size: int, use_ctc: bool):
        super().__init__()
        if cfg.predictor == "stateless":
            self.predictor = StatelessPredictor(vocab_size, cfg.decoder_dim, BLANK_ID, cfg.context_size)
        else:
            self.predictor = LstmPredictor(vocab_size, cfg.decoder_dim, BLANK_ID, cfg.context_size)
        self.joiner = Joiner(encoder_dim, cfg.decoder_dim, cfg.joiner_dim, vocab_size)
        self.simple_am_proj = ScaledLinear(encoder_dim, vocab_size, initial_scale=0.25)
        self.simple_lm_proj = ScaledLinear(cfg.decoder_dim, vocab_size, initial_scale=0.25)
        self.ctc_output = (
            nn.Sequential(nn.Dropout(p=0.1), nn.Linear(encoder_dim, vocab_size), nn.LogSoftmax(dim=-1))
            if use_ctc
            else None
        )
        self.vocab_size = vocab_size
        self.blank_id = BLANK_ID
        self.context_size = cfg.context_size

    def project_encoder(self, encoder_out: torch.Tensor) -> torch.Tensor:
        """Encoder output (..., C_enc) → the joiner's encoder projection (..., J)."""
        return self.joiner.encoder_proj(encoder_out)

    def predict(self, contexts: torch.Tensor) -> torch.Tensor:
        """One predictor step: contexts (N, context_size) int64 (negative = no token) → projected (N, J)."""
        return self.joiner.decoder_proj(self.predictor(contexts, need_pad=False)).squeeze(1)

    def join(self, encoder_out: torch.Tensor, decoder_out: torch.Tensor) -> torch.Tensor:
        """Projected encoder (N, J) and predictor (N, J) outputs → logits (N, V)."""
        return self.joiner(encoder_out, decoder_out, project_input=False)


@dataclass(frozen=True)
class TaskLoss:
    """Loss settings of one task: ``scale`` of its total, ``prune_range`` of the pruned loss and the weights of
    its CTC and CR-CTC terms."""

    scale: float
    prune_range: int
    ctc_scale: float
    cr_scale: float


def task_losses(cfg: LossConfig) -> dict[str, TaskLoss]:
    """The per-task settings of a :class:`LossConfig` (whose fields are flat, ``<name>_asr`` / ``<name>_st``)."""
    return {
        "asr": TaskLoss(cfg.asr_scale, cfg.prune_range_asr, cfg.ctc_scale_asr, cfg.cr_scale_asr),
        "st": TaskLoss(cfg.st_scale, cfg.prune_range_st, cfg.ctc_scale_st, cfg.cr_scale_st),
    }


@dataclass
class EncoderOutput:
    """Encoder output of one task: ``out`` (B, T_task, C_task) and ``lens`` (B,)."""

    out: torch.Tensor
    lens: torch.Tensor


def pad_tokens(tokens: list[list[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists → (B, S) int64 padded with blank, and lengths (B,)."""
    lens = torch.tensor([len(t) for t in tokens], dtype=torch.int64)
    padded = torch.full((len(tokens), max(int(lens.max()), 1) if tokens else 1), BLANK_ID, dtype=torch.int64)
    for i, seq in enumerate(tokens):
        padded[i, : len(seq)] = torch.tensor(seq, dtype=torch.int64)
    return padded.to(device), lens.to(device)


def _validate(cfg: ModelConfig) -> None:
    if cfg.encoder_type not in ("hier", "shared"):
        raise ValueError(f"model.encoder_type must be 'hier' or 'shared', got {cfg.encoder_type!r}")
    if not cfg.tasks or any(t not in TASKS for t in cfg.tasks) or len(set(cfg.tasks)) != len(cfg.tasks):
        raise ValueError(f"model.tasks must be a non-empty subset of {TASKS} without repeats, got {cfg.tasks}")
    if cfg.predictor not in ("stateless", "lstm"):
        raise ValueError(f"model.predictor must be 'stateless' or 'lstm', got {cfg.predictor!r}")
    for name in ("asr_vocab_size", "st_vocab_size"):
        if getattr(cfg, name) < 2:
            raise ValueError(f"model.{name} must be >= 2 (blank plus at least one token), got {getattr(cfg, name)}")
    for name in ("decoder_dim", "joiner_dim", "context_size", "feature_dim"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"model.{name} must be >= 1, got {getattr(cfg, name)}")
    if len(cfg.subsampling_channels) != 3:
        raise ValueError(f"model.subsampling_channels must hold 3 channel counts, got {cfg.subsampling_channels}")


class HentSrt(nn.Module):
    """The HENT-SRT model family (NT-Shared and hierarchical). See the module docstring for the equations."""

    def __init__(self, cfg: ModelConfig, loss_cfg: LossConfig | None = None, masking: SpecAugmentConfig | None = None):
        super().__init__()
        _validate(cfg)
        self.cfg = cfg
        self.loss_cfg = loss_cfg or LossConfig()
        self.masking = masking or SpecAugmentConfig()
        self.task_loss = task_losses(self.loss_cfg)
        self.batch_count = 0.0
        asr = cfg.asr_encoder
        self.encoder_embed = Conv2dSubsampling(
            in_channels=cfg.feature_dim,
            out_channels=asr.encoder_dim[0],
            layer1_channels=cfg.subsampling_channels[0],
            layer2_channels=cfg.subsampling_channels[1],
            layer3_channels=cfg.subsampling_channels[2],
        )
        self.encoder = build_encoder(asr, asr.encoder_dim[0], "model.asr_encoder")
        asr_dim = max(asr.encoder_dim)
        self.hierarchical = cfg.encoder_type == "hier" and "st" in cfg.tasks
        if self.hierarchical and not -len(asr.encoder_dim) <= cfg.st_tap_stack < len(asr.encoder_dim):
            raise ValueError(
                f"model.st_tap_stack={cfg.st_tap_stack} is not a stack of model.asr_encoder "
                f"({len(asr.encoder_dim)} stacks: use -{len(asr.encoder_dim)}..{len(asr.encoder_dim) - 1})"
            )
        self.st_encoder = (
            build_encoder(cfg.st_encoder, asr.encoder_dim[cfg.st_tap_stack], "model.st_encoder")
            if self.hierarchical
            else None
        )
        # which encoder ("asr" = ENC_asr, "st" = ENC_st) each task's head reads
        self.task_encoder = {"asr": "asr", "st": "st" if self.hierarchical else "asr"}
        dims = {"asr": asr_dim, "st": max(cfg.st_encoder.encoder_dim) if self.hierarchical else asr_dim}
        vocab = {"asr": cfg.asr_vocab_size, "st": cfg.st_vocab_size}
        self.heads = nn.ModuleDict({t: TaskHead(cfg, dims[t], vocab[t], cfg.use_ctc) for t in cfg.tasks})
        self.spec_augment = cr_ctc_spec_augment(self.masking, self.loss_cfg.time_mask_ratio)

    # ------------------------------------------------------------------------------------------------------
    # frame bookkeeping

    def output_frames(self, num_feature_frames: int) -> dict[str, int]:
        """Encoder output frames per task for an utterance of ``num_feature_frames`` 10 ms frames."""
        embed = (num_feature_frames - 7) // 2

        def down(frames: int, factor: int) -> int:
            return frames if factor == 1 else (frames + 1) // 2

        asr = down(embed, self.cfg.asr_encoder.output_downsampling_factor)
        st = down(embed, self.cfg.st_encoder.output_downsampling_factor) if self.hierarchical else asr
        return {t: {"asr": asr, "st": st}[t] for t in self.cfg.tasks}

    def check_lengths(self, num_feature_frames: int, num_tokens: dict[str, int]) -> str | None:
        """None if the utterance fits every task (frames >= tokens), else the reason it must be excluded."""
        if num_feature_frames < 9:
            return f"{num_feature_frames} feature frames is too short for the front end (needs >= 9)"
        frames = self.output_frames(num_feature_frames)
        for task in self.cfg.tasks:
            if num_tokens.get(task, 0) > frames[task]:
                return f"{task}: {num_tokens[task]} tokens do not fit {frames[task]} encoder frames"
        return None

    # ------------------------------------------------------------------------------------------------------
    # encoders

    def encoders(self) -> dict[str, tuple[Zipformer2, EncoderConfig]]:
        """The model's encoders with their configs: "asr" (ENC_asr) and, when hierarchical, "st" (ENC_st)."""
        out = {"asr": (self.encoder, self.cfg.asr_encoder)}
        if self.st_encoder is not None:
            out["st"] = (self.st_encoder, self.cfg.st_encoder)
        return out

    def chunking(
        self, encoder: str, chunk_size: int | None = None, left_context_frames: int | None = None
    ) -> dict[str, int]:
        """Keyword arguments (``chunk_size``, ``left_context_frames``) for the ``encoder`` ("asr" or "st").

        A value passed in is kept; None means the encoder config's ``eval_chunk_size`` /
        ``eval_left_context_frames`` in eval mode and a per-batch sample from its lists in training.
        A non-causal encoder gets no chunking (an explicit chunk size then raises in the encoder)."""
        encoders = self.encoders()
        if encoder not in encoders:
            raise ValueError(f"encoder must be one of {tuple(encoders)} for this model, got {encoder!r}")
        cfg = encoders[encoder][1]
        if not cfg.causal and chunk_size is None:
            return {}
        if not self.training:
            chunk_size = cfg.eval_chunk_size if chunk_size is None else chunk_size
            left_context_frames = cfg.eval_left_context_frames if left_context_frames is None else left_context_frames
        return {"chunk_size": chunk_size, "left_context_frames": left_context_frames}

    def encode(
        self,
        x: torch.Tensor,
        x_lens: torch.Tensor,
        chunk_size: int | None = None,
        left_context_frames: int | None = None,
        st_chunk_size: int | None = None,
        st_left_context_frames: int | None = None,
    ) -> dict[str, EncoderOutput]:
        """Features (B, T, F), lengths (B,) → encoder output per task.

        With causal encoders this is *simulated streaming*: the whole utterance in one forward under
        block-triangular chunk masks, ENC_asr with ``chunk_size`` / ``left_context_frames`` (frames at 50 Hz),
        ENC_st with ``st_chunk_size`` / ``st_left_context_frames``; None takes the values of :meth:`chunking`
        (in eval: ``eval_chunk_size`` and ``eval_left_context_frames`` of each encoder's config)."""
        emb, emb_lens = self.encoder_embed(x, x_lens)
        asr_chunking = self.chunking("asr", chunk_size, left_context_frames)
        if self.st_encoder is None:
            out, lens = self.encoder(emb, emb_lens, **asr_chunking)
            return {t: EncoderOutput(out, lens) for t in self.cfg.tasks}
        out, lens, tap, tap_lens = self.encoder(emb, emb_lens, return_stack=self.cfg.st_tap_stack, **asr_chunking)
        st_out, st_lens = self.st_encoder(tap, tap_lens, **self.chunking("st", st_chunk_size, st_left_context_frames))
        return {"asr": EncoderOutput(out, lens), "st": EncoderOutput(st_out, st_lens)}

    # ------------------------------------------------------------------------------------------------------
    # losses

    def transducer_losses(
        self, task: str, enc: EncoderOutput, tokens: torch.Tensor, token_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(simple, pruned) summed over utterances for one task."""
        head = self.heads[task]
        batch = tokens.size(0)
        sos_tokens = torch.cat([torch.full((batch, 1), BLANK_ID, dtype=tokens.dtype, device=tokens.device), tokens], 1)
        decoder_out = head.predictor(sos_tokens)
        boundary = torch.zeros(batch, 4, dtype=torch.int64, device=tokens.device)
        boundary[:, 2] = token_lens
        boundary[:, 3] = enc.lens
        prune_range = self.task_loss[task].prune_range
        with torch.autocast(device_type=enc.out.device.type, enabled=False):
            simple, (px_grad, py_grad) = rnnt_loss_smoothed(
                lm=head.simple_lm_proj(decoder_out).float(),
                am=head.simple_am_proj(enc.out).float(),
                symbols=tokens,
                termination_symbol=BLANK_ID,
                lm_only_scale=self.loss_cfg.lm_scale,
                am_only_scale=self.loss_cfg.am_scale,
                boundary=boundary,
                reduction="sum",
                return_grad=True,
            )
            ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, prune_range)
        am_pruned, lm_pruned = do_rnnt_pruning(
            head.joiner.encoder_proj(enc.out), head.joiner.decoder_proj(decoder_out), ranges
        )
        logits = head.joiner(am_pruned, lm_pruned, project_input=False)
        with torch.autocast(device_type=enc.out.device.type, enabled=False):
            pruned = rnnt_loss_pruned(
                logits=logits.float(),
                symbols=tokens,
                ranges=ranges,
                termination_symbol=BLANK_ID,
                boundary=boundary,
                reduction="sum",
            )
        return simple, pruned

    def ctc_losses(
        self, task: str, enc: EncoderOutput, tokens: torch.Tensor, token_lens: torch.Tensor, two_views: bool
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(ctc, cr, number of dropped non-finite utterances); cr is 0 without two views."""
        head = self.heads[task]
        with torch.autocast(device_type=enc.out.device.type, enabled=False):
            log_probs = head.ctc_output(enc.out.float())
            ctc, dropped = ctc_loss(log_probs, enc.lens, tokens, token_lens, blank=BLANK_ID)
            if not two_views:
                return ctc, torch.zeros((), device=ctc.device), dropped
            view_a, view_b = log_probs.chunk(2, dim=0)
            lens_a, _ = enc.lens.chunk(2, dim=0)
            cr = cr_ctc_consistency(view_a, view_b, lens_a)
        return ctc, cr, dropped

    def uses_two_views(self) -> bool:
        """Whether :meth:`forward` duplicates the batch into two augmented views (CR-CTC, training only).

        In eval the views would be identical copies: the halved transducer and CTC terms of two equal copies equal
        those of one, and the consistency term is 0, so validation runs on the batch once (half the cost, the
        same values)."""
        return self.training and self.cfg.use_ctc and self.loss_cfg.use_cr_ctc

    def loss_scales(self) -> tuple[float, float]:
        """(simple, pruned) warm-up scales at training step n = ``self.train_step``.

        n counts raw optimizer steps (icefall's ``batch_idx_train``), set by the trainer before every step; the
        Zipformer schedules read the batch count adjusted by max_duration x world_size / ref_duration instead.
        A model that was never trained has n = 0.
        """
        step = getattr(self, "train_step", 0)
        progress = min(step / max(self.loss_cfg.warm_step, 1), 1.0)
        return 1.0 - (1.0 - self.loss_cfg.simple_loss_scale) * progress, 0.1 + 0.9 * progress

    def forward(
        self,
        features: torch.Tensor,
        feature_lens: torch.Tensor,
        tokens: Mapping[str, Sequence[Sequence[int]]],
    ) -> dict[str, torch.Tensor]:
        """Loss terms of one batch.

        Args:
            features: (B, T, F) float fbank, frames ``t < feature_lens[b]`` real.
            feature_lens: (B,) int64.
            tokens: per task of the model ("asr", "st"), B token-id lists (the training targets).
        Returns:
            "loss" (the weighted total, summed over utterances; the only term with a graph), the detached
            named terms "<task>_simple", "<task>_pruned", "<task>_ctc", "<task>_cr", and the counts "frames"
            (encoder frames of the first task, original batch), "utterances" and "ctc_dropped".
        """
        num_utts = features.size(0)
        missing = [t for t in self.cfg.tasks if t not in tokens]
        wrong = [t for t in self.cfg.tasks if t in tokens and len(tokens[t]) != num_utts]
        if missing or wrong:
            raise ValueError(f"tokens must hold {num_utts} token lists for each task {list(self.cfg.tasks)}; "
                             f"missing {missing}, wrong length {wrong}")
        x, x_lens = features, feature_lens
        device = x.device
        two_views = self.uses_two_views()
        token_lists = {t: list(tokens[t]) for t in self.cfg.tasks}
        if two_views:
            x = make_views(x, x_lens, self.spec_augment, self.masking.time_warp_factor)
            x_lens = x_lens.repeat(2)
            token_lists = {t: v + v for t, v in token_lists.items()}
        encoded = self.encode(x, x_lens)
        simple_scale, pruned_scale = self.loss_scales()
        view_scale = 0.5 if two_views else 1.0
        total = torch.zeros((), device=device)
        out: dict[str, torch.Tensor] = {}
        dropped = 0
        for task in self.cfg.tasks:
            weights = self.task_loss[task]
            padded, token_lens = pad_tokens(token_lists[task], device)
            enc = encoded[task]
            simple, pruned = self.transducer_losses(task, enc, padded, token_lens)
            task_loss = view_scale * (simple_scale * simple + pruned_scale * pruned)
            out[f"{task}_simple"] = view_scale * simple.detach()
            out[f"{task}_pruned"] = view_scale * pruned.detach()
            if self.cfg.use_ctc:
                ctc, cr, n_dropped = self.ctc_losses(task, enc, padded, token_lens, two_views)
                dropped += n_dropped
                task_loss = task_loss + weights.ctc_scale * view_scale * ctc + weights.cr_scale * cr
                out[f"{task}_ctc"] = view_scale * ctc.detach()
                out[f"{task}_cr"] = cr.detach()
            total = total + weights.scale * task_loss
        first = encoded[self.cfg.tasks[0]]
        out["loss"] = total
        out["frames"] = first.lens[:num_utts].sum().to(torch.float32).detach()
        out["utterances"] = torch.tensor(float(num_utts), device=device)
        out["ctc_dropped"] = torch.tensor(float(dropped), device=device)
        return out

    # ------------------------------------------------------------------------------------------------------
    # stage 1 → stage 2

    def init_from(
        self, state_dict: dict[str, torch.Tensor], skip_mismatch: bool = False, allow_partial: bool = False
    ) -> dict[str, list[str]]:
        """Load the matching weights of another model (e.g. stage-1 ASR into stage 2).

        Returns {"loaded": [...], "new": [...] (ours, absent from state_dict), "unused": [...] (theirs, not
        ours), "skipped": [...] (shape mismatch, only with ``skip_mismatch`` or ``allow_partial``)}.

        Refused (ValueError with the counts and the first names) unless ``allow_partial``: a state dict that would
        load no tensor, or not every tensor of our front end and ASR encoder (``encoder_embed.``, ``encoder.``) and,
        when it has an ST encoder, of ours (``st_encoder.``): a checkpoint of another model. A shape mismatch is
        refused unless ``skip_mismatch`` or ``allow_partial`` (the tensor then stays new).
        """
        own = self.state_dict()
        report: dict[str, list[str]] = {"loaded": [], "new": [], "unused": [], "skipped": []}
        to_load = {}
        mismatches = []
        for name, value in state_dict.items():
            if name not in own:
                report["unused"].append(name)
            elif own[name].shape != value.shape:
                mismatches.append(f"{name} {tuple(value.shape)} in the checkpoint, {tuple(own[name].shape)} here")
                report["skipped"].append(name)
            else:
                to_load[name] = value
                report["loaded"].append(name)
        report["new"] = [n for n in own if n not in to_load]
        encoder_prefixes = ("encoder_embed.", "encoder.") + (
            ("st_encoder.",) if any(n.startswith("st_encoder.") for n in state_dict) else ())
        encoder = [n for n in own if n.startswith(encoder_prefixes)]
        not_loaded = [n for n in encoder if n not in to_load]
        counts = (f"{len(report['loaded'])} of the checkpoint's {len(state_dict)} tensors fit this model's "
                  f"{len(own)} ({len(encoder) - len(not_loaded)} of its {len(encoder)} encoder tensors); "
                  f"{len(report['unused'])} unused, {len(mismatches)} of another shape")
        first = "; ".join(mismatches[:3] + [f"{n} not in the checkpoint" for n in not_loaded
                                             if n not in report["skipped"]][:3])
        if not allow_partial and (not to_load or not_loaded):
            raise ValueError(
                f"init_from: this checkpoint is not an earlier stage of this model: {counts}"
                + (f" (e.g. {first})" if first else "")
                + "; pass --init-allow-partial to load only what fits"
            )
        if mismatches and not (skip_mismatch or allow_partial):
            raise ValueError(f"init_from: {counts}: {'; '.join(mismatches[:3])}; pass --init-allow-partial (or "
                             "skip_mismatch=True) to leave those tensors new")
        self.load_state_dict(to_load, strict=False)
        log.info(
            "init_from: loaded %d tensors, %d new, %d unused, %d skipped",
            len(report["loaded"]), len(report["new"]), len(report["unused"]), len(report["skipped"]),
        )
        return report


def build_model(
    cfg: ModelConfig, loss_cfg: LossConfig | None = None, masking: SpecAugmentConfig | None = None
) -> HentSrt:
    """The model described by ``cfg`` (see :class:`hent_srt.config.ModelConfig`); ``masking`` (``data.masking``)
    sets the masks of CR-CTC's training views (default: the published ones)."""
    return HentSrt(cfg, loss_cfg, masking)
