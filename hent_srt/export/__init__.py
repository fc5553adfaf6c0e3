"""``hent-srt export``: TorchScript, ONNX and streaming graphs of a trained model, and their verification.

Modules, each importing only those before it: :mod:`~hent_srt.export.trace` (tracing a model),
:mod:`~hent_srt.export.metadata` (what every export records), :mod:`~hent_srt.export.offline` (TorchScript and
ONNX graphs of the whole-utterance model, int8 quantisation, token files), :mod:`~hent_srt.export.streaming`
(the chunk-by-chunk TorchScript model), :mod:`~hent_srt.export.sherpa_onnx` (one sherpa-onnx transducer per
head, offline and streaming), :mod:`~hent_srt.export.verify` (decoding a test set with every written format
against PyTorch) and :mod:`~hent_srt.export.cli` (the command). The files are read back by the runtimes of
:mod:`hent_srt.decode.runtimes` and :mod:`hent_srt.decode.sherpa`, which define their names.
"""
