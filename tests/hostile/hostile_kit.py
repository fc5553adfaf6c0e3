"""Helpers of the hostile-input suite: run a command in-process, judge its outcome, and check that a failed command
left earlier outputs as they were and nothing half-written behind.

Every judgement that fails names its class in brackets, which ``conftest.py`` counts in the summary line
``hostile-input cases: ...``:

- ``[traceback]``: a user error ended in a Python traceback (an exception escaped ``hent_srt.cli.main``);
- ``[silent]``: a wrong or missing result without an error (exit 0 where the input was bad, a wrong score);
- ``[data-loss]``: an earlier output changed or vanished, or an output points at files that do not exist;
- ``[code-exec]``: loading a file ran code stored in it;
- ``[message]``: the wrong exit status, or a message that names neither the field nor the file, or no fix;
- ``[files]``: temporaries left behind, or outputs with the wrong permissions.

A failure without a tag (an assertion of the test itself, an error in a fixture) is counted as ``untagged``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import stat
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from hent_srt import cli
from hent_srt.fileio import LOCK_NAME, is_temporary

TRACEBACK = "Traceback (most recent call last)"
# words of an instruction: a message that says what to do holds one of them
FIX_WORDS = re.compile(
    r"\b(pass|use|give|check|fix|run|re-?run|re-?create|regenerate|remove|choose|set|drop|add|train|convert|wait|"
    r"make|write|compute|lower|delete|keep|quote|import|stop|save|free|rename|point|retrain|resume|decode|export|"
    r"copy|install|turn|need|needs|must|expected|expects|takes|one of|did you mean|valid \w+)\b",
    re.I,
)
KINDS = ("traceback", "silent", "data-loss", "code-exec", "message", "files")
# the classes of the robustness issue a case is marked with (``@pytest.mark.hostile(CLASS)``): the failure it
# guards against. The first six are the kinds above; ``packaging`` (presets found outside a source checkout),
# ``training`` (a run that must stop or refuse rather than train on nothing) and ``concurrency`` (two runs, or a
# killed one, in one directory) name where the case looks, and any kind of failure counts for them.
CLASSES = (*KINDS, "packaging", "training", "concurrency")


def fail(kind: str, message: str) -> None:
    assert kind in KINDS, kind
    pytest.fail(f"[{kind}] {message}", pytrace=False)


@dataclass
class Outcome:
    """What one ``hent-srt`` call did: exit status, stdout, stderr and the traceback of an escaped exception."""

    code: int
    out: str
    err: str
    traceback: str | None = None


def run_cli(capsys, *argv: object) -> Outcome:
    """``hent-srt ARGV`` in this process (``hent_srt.cli.main``), with its output captured."""
    capsys.readouterr()
    escaped = None
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse
        code = exit_.code if isinstance(exit_.code, int) else 2
    except Exception:  # an internal error: the real command prints this traceback and exits 1
        escaped = traceback.format_exc()
        code = 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err + (escaped or ""), escaped)


def no_traceback(outcome: Outcome) -> None:
    if outcome.traceback is not None or TRACEBACK in outcome.err:
        fail("traceback", f"exit {outcome.code} with a traceback:\n{outcome.err[-3000:]}")


def user_error(outcome: Outcome, *names: object, hint: str | None = None, code: int = 2) -> str:
    """Judge a refused input: exit ``code`` (2), no traceback, the message holds every one of ``names`` (the
    field or file) and says what to do (``hint``, a regex, or else one of :data:`FIX_WORDS`). Returns stderr."""
    no_traceback(outcome)
    if outcome.code == 0:
        fail("silent", f"exit 0 for bad input; stdout:\n{outcome.out[-2000:]}\nstderr:\n{outcome.err[-2000:]}")
    if outcome.code != code:
        fail("message", f"exit {outcome.code}, expected {code}; stderr:\n{outcome.err[-2000:]}")
    err = outcome.err
    missing = [str(n) for n in names if str(n) not in err]
    if missing:
        fail("message", f"the message does not name {missing}:\n{err[-2000:]}")
    if hint is not None and not re.search(hint, err, re.I):
        fail("message", f"the message does not say {hint!r}:\n{err[-2000:]}")
    if hint is None and not FIX_WORDS.search(err):
        fail("message", f"the message does not say what to do:\n{err[-2000:]}")
    return err


def succeeded(outcome: Outcome) -> None:
    no_traceback(outcome)
    if outcome.code != 0:
        fail("message", f"exit {outcome.code} for good input:\n{outcome.err[-3000:]}")


# ---------------------------------------------------------------------------------------------------------
# files: snapshots, temporaries, permissions


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """(sha256, mode) of every file under ``root`` but the lock files (whose holder changes), by relative path."""
    return {str(p.relative_to(root)): (_digest(p), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != LOCK_NAME}


def temporaries(root: Path) -> list[Path]:
    """Leftovers of interrupted writers under ``root``: hent-srt's temporaries and anything named ``*.tmp*``."""
    return [p for p in root.rglob("*") if is_temporary(p.name) or ".tmp" in p.name]


def unchanged(before: dict[str, tuple[str, int]], root: Path, allow_new: Iterable[str] = ()) -> None:
    """The files of ``before`` are still under ``root`` as they were; no temporaries; new files only if they
    match one of the ``allow_new`` globs (lock files are not counted)."""
    after = snapshot(root)
    lost = [name for name in before if name not in after]
    changed = [name for name in before if name in after and after[name] != before[name]]
    if lost or changed:
        fail("data-loss", f"under {root}: lost {lost}, changed {changed}")
    left = temporaries(root)
    if left:
        fail("files", f"temporaries left under {root}: {left}")
    new = [name for name in after if name not in before and not any(Path(name).match(p) for p in allow_new)]
    if new:
        fail("files", f"a failed command left new files under {root}: {new}")


def file_kept(path: Path, text: str = "a file\n") -> None:
    """The file ``path`` (given where a directory was expected) still holds ``text``."""
    if not path.is_file() or path.read_text() != text:
        fail("data-loss", f"{path} was changed or removed")


def no_temporaries(root: Path) -> None:
    left = temporaries(root)
    if left:
        fail("files", f"temporaries left under {root}: {left}")


def mode_is(path: Path, mode: int = 0o644) -> None:
    """``path`` has ``mode`` (a new file under the default umask 022 gets 0644)."""
    actual = stat.S_IMODE(path.stat().st_mode)
    if actual != mode:
        fail("files", f"{path} has mode {actual:o}, expected {mode:o}")


def manifest_complete(path: Path) -> None:
    """Every cut of the manifest ``path`` loads its features (no storage path points at a missing file)."""
    from hent_srt.data.manifest import read_cuts

    try:
        for cut in read_cuts(path):
            if cut.has_features:
                cut.load_features()
    except Exception as err:  # noqa: BLE001 - any failure here is the finding
        fail("data-loss", f"{path} is not complete: {type(err).__name__}: {err}")


# ---------------------------------------------------------------------------------------------------------
# hostile files


class MakesDirectory:
    """A crafted pickle: unpickling it with ``weights_only=False`` calls ``os.mkdir(path)``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def crafted_checkpoint(path: Path, marker: Path, state: dict | None = None) -> Path:
    """A checkpoint-looking file whose loading (without ``weights_only``) would create the directory ``marker``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state or {"w": torch.ones(2)}, "batch_idx_train": 3, "payload": MakesDirectory(str(marker))},
               path)
    return path


def no_code_ran(marker: Path) -> None:
    if marker.exists():
        fail("code-exec", f"loading the crafted file ran its payload: {marker} was created")


def truncated(source: Path, path: Path) -> Path:
    """The first half of ``source``'s bytes (a checkpoint or archive a killed writer left)."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_gz_lines(path: Path, lines: list[str], gz: bool = True) -> Path:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def manifest_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def damaged_manifest(good: Path, damage: str, path: Path) -> tuple[Path, list[str]]:
    """A damaged copy of the cut manifest ``good`` at ``path``; also the words its error message must hold."""
    lines = manifest_lines(good)
    if damage == "truncated":  # a long manifest cut off half way (a short gzip may end inside its header)
        full = gzip.compress(("".join(line + "\n" for line in lines * 200)).encode(), mtime=0)
        path.write_bytes(full[: len(full) // 2])
        return path, [str(path), "truncated"]
    if damage == "bad-json":
        write_gz_lines(path, [lines[0], lines[1][: len(lines[1]) // 2], *lines[2:]])
        return path, [str(path), "line 2"]
    if damage == "not-a-cut":  # a recording manifest given where cuts are expected
        recording = json.loads(lines[0])["recording"]
        write_gz_lines(path, [json.dumps(recording)])
        return path, [str(path), "line 1"]
    if damage == "missing-keys":
        write_gz_lines(path, [lines[0], json.dumps({"type": "MonoCut", "id": "x"})])
        return path, [str(path), "line 2"]
    if damage == "not-utf8":
        raw = "".join(line + "\n" for line in lines).encode() + b'{"id": "caf\xe9"}\n'
        path.write_bytes(gzip.compress(raw, mtime=0))
        return path, [str(path), f"line {len(lines) + 1}"]
    if damage == "not-gzip":  # a .gz name over bytes that are neither gzip nor text
        path.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(64))
        return path, [str(path)]
    if damage == "empty":
        write_gz_lines(path, [])
        return path, [str(path)]
    if damage == "directory":
        path.mkdir()
        return path, [str(path)]
    if damage == "missing":
        return path, [str(path)]
    raise ValueError(damage)


DAMAGES = ("truncated", "bad-json", "not-a-cut", "missing-keys", "not-utf8", "not-gzip", "empty", "directory",
           "missing")


def with_supervision_text(good: Path, path: Path, texts: dict[int, str], field: str = "text") -> Path:
    """A copy of ``good`` with the ``field`` of line ``i``'s supervision replaced by ``texts[i]`` (``field``
    ``translation``: its English translation)."""
    out = []
    for i, line in enumerate(manifest_lines(good)):
        cut = json.loads(line)
        if i in texts:
            sup = cut["supervisions"][0]
            if field == "text":
                sup["text"] = texts[i]
            else:
                sup["custom"]["translated_text"]["en"] = texts[i]
        out.append(json.dumps(cut))
    return write_gz_lines(path, out)


def save_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def empty_wav(path: Path, rate: int = 16000) -> Path:
    """A WAV file with a header and 0 samples."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, torch.zeros(0).numpy(), rate, format="WAV")
    return save_bytes(path, buffer.getvalue())


def python() -> str:
    return sys.executable
