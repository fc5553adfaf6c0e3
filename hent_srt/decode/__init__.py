"""Decoding with a model or an export: the runtimes that implement the transducer step interface of
:mod:`hent_srt.search` for the PyTorch model and for exported TorchScript / ONNX graphs
(:mod:`~hent_srt.decode.runtimes`), streaming (:mod:`~hent_srt.decode.streaming`), ``hent-srt decode``
(:mod:`~hent_srt.decode.decode`) and ``hent-srt translate`` (:mod:`~hent_srt.decode.translate`)."""
