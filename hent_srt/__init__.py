"""hent-srt: joint speech recognition and translation with hierarchical neural transducers."""

__version__ = "0.1.0"
