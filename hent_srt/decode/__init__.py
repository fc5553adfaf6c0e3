"""Decoding: the transducer step interface (:mod:`~hent_srt.decode.step`), one greedy frame loop
(:mod:`~hent_srt.decode.greedy`), modified beam search (:mod:`~hent_srt.decode.beam`), streaming
(:mod:`~hent_srt.decode.streaming`), the runtimes that implement the step interface for the PyTorch model and
for exported TorchScript / ONNX graphs (:mod:`~hent_srt.decode.runtimes`), and ``hent-srt decode``
(:mod:`~hent_srt.decode.decode`)."""
