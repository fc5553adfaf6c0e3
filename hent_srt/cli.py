"""``hent-srt <command>``: one entry point, one module per command.

Each command lives in the module that owns its logic and exposes two functions:
``add_arguments(parser: argparse.ArgumentParser) -> None`` and ``main(args: argparse.Namespace) -> int``.
Modules are imported lazily: ``hent-srt <command> ...`` imports the module of that command only (the others
import torch and lhotse, seconds of start-up), and a command whose module is not available yet says so and exits
2 instead of pretending to work.

Exit status: 0 success; 2 a user error (bad option or value, a missing or unreadable file, a file that does not
parse), printed as one line ``hent-srt <command>: <message>`` (the classification is ``hent_srt.errors``); 1 an
internal error, with its traceback; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from hent_srt.errors import show_tracebacks, user_message

NOT_AVAILABLE_EXIT = 2
USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130
BROKEN_PIPE_EXIT = 141


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command("prepare", "hent_srt.data.corpora.prepare", "stage 0: corpus files -> lhotse manifests (per corpus)"),
    Command("synth", "hent_srt.data.corpora.synth", "generate the synthetic speech-translation corpus"),
    Command("features", "hent_srt.data.features", "resample, speed-perturb and extract 80-dim fbank"),
    Command("bpe", "hent_srt.data.tokenizer", "train sentencepiece models for source and target text"),
    Command("train", "hent_srt.train.trainer", "train a model (single process or torchrun DDP)"),
    Command("average", "hent_srt.train.average", "average checkpoints into one model"),
    Command("decode", "hent_srt.decode.decode", "decode test sets (greedy / modified beam search) and score"),
    Command("translate", "hent_srt.decode.translate", "transcribe and translate audio files (any rate, WAV/FLAC/SPHERE)"),
    Command("score", "hent_srt.score", "score hypotheses: WER/CER, BLEU and chrF++ with signatures"),
    Command("compare", "hent_srt.compare", "compare two systems' BLEU: paired bootstrap interval of the difference"),
    Command("export", "hent_srt.export.cli", "export TorchScript / ONNX models"),
    Command("config", "hent_srt.config", "show a resolved configuration preset"),
    Command("import-icefall", "hent_srt.train.icefall", "import an icefall HENT-SRT / NT-Shared checkpoint"),
)


def _load(command: Command) -> ModuleType | None:
    """Import the module of ``command``; None when that module (not one of its imports) does not exist."""
    try:
        module = importlib.import_module(command.module)
    except ModuleNotFoundError as err:
        if err.name is not None and command.module.startswith(err.name):
            return None
        raise
    if not (hasattr(module, "add_arguments") and hasattr(module, "main")):
        return None
    return module


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, ModuleType | None]]:
    """The parser of every command, and the command modules it imported (None: not available). With ``only``
    (a command name) only that command's module is imported and given its options; the others are listed."""
    parser = argparse.ArgumentParser(
        prog="hent-srt",
        description="Joint speech recognition and translation with hierarchical neural transducers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    modules: dict[str, ModuleType | None] = {}
    for command in COMMANDS:
        if only is not None and command.name != only:
            sub.add_parser(command.name, help=command.help, description=command.help)
            continue
        module = _load(command)
        modules[command.name] = module
        help_text = command.help if module is not None else f"{command.help} (not yet available)"
        command_parser = sub.add_parser(command.name, help=help_text, description=help_text)
        if module is not None:
            module.add_arguments(command_parser)
    return parser, modules


def _run(argv: Sequence[str] | None, prog: list[str]) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    names = {command.name for command in COMMANDS}
    parser, modules = build_parser(words[0] if words and words[0] in names else None)
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return NOT_AVAILABLE_EXIT
    prog.append(args.command)
    module = modules[args.command]
    if module is None:
        print(
            f"hent-srt {args.command}: not yet available in this version of hent-srt.",
            file=sys.stderr,
        )
        return NOT_AVAILABLE_EXIT
    return int(module.main(args) or 0)


def _silence_stdout() -> None:
    """After a broken pipe (``hent-srt config show | head``), stop Python from failing again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors become one line on stderr and exit status 2 (see the module docstring)."""
    prog = ["hent-srt"]
    try:
        return _run(argv, prog)
    except KeyboardInterrupt:
        print(f"{' '.join(prog)}: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_EXIT
    except Exception as err:
        message = user_message(err)
        if message is None or show_tracebacks():
            raise
        print(f"{' '.join(prog)}: {message}", file=sys.stderr)
        return USER_ERROR_EXIT


if __name__ == "__main__":
    sys.exit(main())
