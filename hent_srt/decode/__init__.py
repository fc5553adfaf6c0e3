"""Decoding: transducer search with blank penalty."""

from hent_srt.decode.search import apply_blank_penalty, greedy_search, modified_beam_search

__all__ = ["apply_blank_penalty", "greedy_search", "modified_beam_search"]
