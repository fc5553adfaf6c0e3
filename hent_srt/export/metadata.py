"""The metadata every ``hent-srt export`` file carries (string keys and values), read back by
:mod:`hent_srt.decode.runtimes`."""

from __future__ import annotations

import hent_srt
from hent_srt.config import Config
from hent_srt.decode.streaming import ModelGraphs
from hent_srt.model.hent import BLANK_ID, HentSrt


def eval_chunking(model: HentSrt, task: str) -> tuple[int, int]:
    """(chunk_size, left_context_frames) at 50 Hz that the encoder read by ``task`` uses in evaluation; -1 means
    the whole utterance / unlimited left context (always for a non-causal encoder)."""
    training = model.training
    model.eval()
    chunking = model.chunking(model.task_encoder[task])
    model.train(training)
    chunk = chunking.get("chunk_size")
    left = chunking.get("left_context_frames")
    return (-1 if chunk is None else chunk), (-1 if left is None or chunk in (None, -1) else left)


def export_metadata(config: Config, model: HentSrt) -> dict[str, str]:
    """String key → string value metadata of an export (the same in every graph and in ``model.pt``).

    Keys: model_type (hier | shared), hierarchical (1 | 0), streaming (0; 1 in ``model-streaming.pt``),
    tasks ("asr,st"), <t>_vocab_size, blank_id, context_size, predictor, feature_dim, joiner_dim,
    blank_penalty_<t> and max_sym_per_frame (the config's decoding defaults), causal_<t>, chunk_size_<t> and
    left_context_frames_<t> (what the encoder read by task t uses in evaluation; -1 = whole utterance /
    unlimited), tokens_<t> and bpe_model_<t> (file names next to the models; empty when the config names no
    tokenizer), encoder_out_projected (1), hent_srt_version.
    """
    cfg = config.model
    meta = {
        "model_type": cfg.encoder_type,
        "hierarchical": str(int(model.hierarchical)),
        "streaming": "0",
        "tasks": ",".join(cfg.tasks),
        "blank_id": str(BLANK_ID),
        "context_size": str(cfg.context_size),
        "predictor": cfg.predictor,
        "feature_dim": str(cfg.feature_dim),
        "joiner_dim": str(cfg.joiner_dim),
        "max_sym_per_frame": str(config.decode.max_sym_per_frame),
        "encoder_out_projected": "1",
        "hent_srt_version": hent_srt.__version__,
    }
    encoders = model.encoders()
    bpe = {"asr": config.data.src_bpe_model, "st": config.data.tgt_bpe_model}
    penalties = {"asr": config.decode.blank_penalty_asr, "st": config.decode.blank_penalty_st}
    for task in cfg.tasks:
        chunk, left = eval_chunking(model, task)
        meta[f"{task}_vocab_size"] = str(model.heads[task].vocab_size)
        meta[f"blank_penalty_{task}"] = repr(float(penalties[task]))
        meta[f"causal_{task}"] = str(int(encoders[model.task_encoder[task]][0].causal))
        meta[f"chunk_size_{task}"] = str(chunk)
        meta[f"left_context_frames_{task}"] = str(left)
        meta[f"tokens_{task}"] = f"tokens-{task}.txt" if bpe[task] else ""
        meta[f"bpe_model_{task}"] = f"bpe-{task}.model" if bpe[task] else ""
    return meta


def streaming_metadata(metadata: dict[str, str], graphs: ModelGraphs) -> dict[str, str]:
    """``metadata`` of the offline export with ``streaming`` = 1 and the chunking of ``graphs`` per encoder e
    (``chunk_size_<e>_encoder``, ``left_context_frames_<e>_encoder``) and per task."""
    out = dict(metadata, streaming="1")
    chunkings = {"asr": graphs.asr, "st": graphs.st}
    for encoder, chunking in chunkings.items():
        if chunking is not None:
            out[f"chunk_size_{encoder}_encoder"] = str(chunking.chunk_size)
            out[f"left_context_frames_{encoder}_encoder"] = str(chunking.left_context_frames)
    for task in graphs.tasks:
        chunking = chunkings[graphs.model.task_encoder[task]]
        out[f"causal_{task}"] = "1"
        out[f"chunk_size_{task}"] = str(chunking.chunk_size)
        out[f"left_context_frames_{task}"] = str(chunking.left_context_frames)
    return out
