"""Transducer search on the step interface, independent of what runs the model: the interface and the blank
penalty (:mod:`~hent_srt.search.step`), the one greedy frame loop, batched and resumable
(:mod:`~hent_srt.search.greedy`), and modified beam search (:mod:`~hent_srt.search.beam`); and best-path decoding
of a CTC head (:mod:`~hent_srt.search.ctc`). The runtimes that implement the interface (the PyTorch model,
TorchScript, ONNX) and streaming are in :mod:`hent_srt.decode`."""
