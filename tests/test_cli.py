"""The error boundary of ``hent-srt``: user errors are one line and exit 2, internal errors keep their traceback."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from lhotse import AudioSource, MonoCut, Recording, SupervisionSegment

from hent_srt import cli, errors
from hent_srt.metrics import tokenize_for_error_rate

FAKE_MODULE = "hent_srt_tests_fake_command"


@pytest.fixture
def command(monkeypatch):
    """Install ``hent-srt fake``, whose main runs the callable the test sets with ``command(fn)``."""
    module = types.ModuleType(FAKE_MODULE)
    module.add_arguments = lambda parser: None
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, cli.Command("fake", FAKE_MODULE, "a test command")))
    monkeypatch.delenv(errors.TRACEBACK_ENV, raising=False)

    def install(body):
        module.main = lambda args: body()

    return install


def run_fake(capsys) -> tuple[int, str]:
    code = cli.main(["fake"])
    return code, capsys.readouterr().err


def test_value_error_raised_by_hent_srt_is_one_line_and_exit_2(command, capsys):
    command(lambda: tokenize_for_error_rate("a b", "syllable"))
    code, err = run_fake(capsys)
    assert code == 2
    assert err == "hent-srt fake: unit must be 'word' or 'char', got 'syllable'\n"


def test_user_error_counts_wherever_it_is_raised(command, capsys):
    def body():
        raise errors.UserError("--thing: bad value 3; use 1 or 2")

    command(body)
    assert run_fake(capsys) == (2, "hent-srt fake: --thing: bad value 3; use 1 or 2\n")


def test_value_error_from_inside_torch_keeps_its_traceback(command):
    # a shape bug: torch raises ValueError in its own code, which must not be mistaken for bad input
    command(lambda: torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long)))
    with pytest.raises(ValueError, match="batch_size"):
        cli.main(["fake"])


def test_value_error_outside_hent_srt_keeps_its_traceback(command):
    def body():
        raise ValueError("an internal inconsistency")

    command(body)
    with pytest.raises(ValueError, match="internal inconsistency"):
        cli.main(["fake"])


def test_other_exceptions_keep_their_traceback(command):
    command(lambda: {}["missing"])
    with pytest.raises(KeyError):
        cli.main(["fake"])


def test_traceback_env_shows_user_errors_in_full(command, monkeypatch):
    command(lambda: tokenize_for_error_rate("a", "syllable"))
    monkeypatch.setenv(errors.TRACEBACK_ENV, "1")
    with pytest.raises(ValueError, match="syllable"):
        cli.main(["fake"])


def test_keyboard_interrupt_is_exit_130_and_one_line(command, capsys):
    def body():
        raise KeyboardInterrupt

    command(body)
    assert run_fake(capsys) == (130, "hent-srt fake: interrupted\n")


def test_missing_file_names_it(command, capsys, tmp_path):
    missing = tmp_path / "nowhere" / "cuts.jsonl.gz"
    command(lambda: open(missing))
    code, err = run_fake(capsys)
    assert code == 2 and str(missing) in err and "no such file" in err and err.count("\n") == 1


def test_directory_given_as_a_file_names_it(command, capsys, tmp_path):
    command(lambda: open(tmp_path))
    code, err = run_fake(capsys)
    assert code == 2 and str(tmp_path) in err and "is a directory" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_names_it(command, capsys, tmp_path):
    locked = tmp_path / "locked.txt"
    locked.write_text("x")
    locked.chmod(0)
    command(lambda: open(locked))
    code, err = run_fake(capsys)
    assert code == 2 and str(locked) in err and "permission denied" in err


def _read_gzip_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _cut(i: int) -> dict:
    recording = Recording(id=f"rec-{i}", sources=[AudioSource(type="file", channels=[0], source=f"/audio/{i}.wav")],
                          sampling_rate=16000, num_samples=16000, duration=1.0)
    text = os.urandom(6).hex()
    supervision = SupervisionSegment(id=f"sup-{i}", recording_id=recording.id, start=0.0, duration=1.0, text=text,
                                     language="es", custom={"translated_text": {"en": text}})
    return MonoCut(id=f"cut-{i}", start=0.0, duration=1.0, channel=0, recording=recording,
                   supervisions=[supervision]).to_dict()


def _truncated_gzip(tmp_path: Path) -> Path:
    """A manifest of valid cuts cut off half way, as a killed writer without atomic renames leaves it."""
    full = tmp_path / "full.jsonl.gz"
    with gzip.open(full, "wt") as f:
        for i in range(1000):
            f.write(json.dumps(_cut(i)) + "\n")
    cut = tmp_path / "cuts_train.jsonl.gz"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return cut


def test_truncated_gzip_names_the_file(command, capsys, tmp_path):
    path = _truncated_gzip(tmp_path)
    command(lambda: _read_gzip_lines(path))
    code, err = run_fake(capsys)
    assert code == 2 and str(path) in err and "truncated" in err and err.count("\n") == 1


def test_broken_json_line_names_the_file(command, capsys, tmp_path):
    path = tmp_path / "cuts.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write('{"id": "a"}\n{"id": \n')
    command(lambda: _read_gzip_lines(path))
    code, err = run_fake(capsys)
    assert code == 2 and str(path) in err and "not valid JSON" in err


def test_not_utf8_names_the_file(command, capsys, tmp_path):
    path = tmp_path / "text"
    path.write_bytes(b"utt1 caf\xe9\n")
    command(lambda: path.read_text(encoding="utf-8").splitlines())
    code, err = run_fake(capsys)
    assert code == 2 and "not UTF-8" in err and "0xe9" in err


def test_missing_input_through_a_real_command(capsys, tmp_path):
    code = cli.main(["score", "--hyp", str(tmp_path / "hyp.txt"), "--ref", str(tmp_path / "ref.txt")])
    err = capsys.readouterr().err
    assert code == 2 and "--hyp" in err and "hyp.txt" in err


def _hent_srt(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != errors.TRACEBACK_ENV} | env
    return subprocess.run([sys.executable, "-m", "hent_srt.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env=environment, timeout=300)


def test_subprocess_user_error_prints_no_traceback(tmp_path):
    path = _truncated_gzip(tmp_path)
    done = _hent_srt("bpe", "--cuts", str(path), "--side", "source", "--vocab-size", "10",
                     "--out-dir", str(tmp_path / "bpe"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and str(path) in done.stderr


def test_subprocess_internal_error_keeps_traceback(tmp_path):
    code = (
        "import sys, types\n"
        "from hent_srt import cli\n"
        "m = types.ModuleType('fake_mod'); m.add_arguments = lambda p: None\n"
        "def main(args): raise RuntimeError('a bug')\n"
        "m.main = main; sys.modules['fake_mod'] = m\n"
        "cli.COMMANDS = (*cli.COMMANDS, cli.Command('fake', 'fake_mod', 'x'))\n"
        "sys.exit(cli.main(['fake']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: a bug" in done.stderr


def _raised(fn) -> BaseException:
    try:
        fn()
    except Exception as err:
        return err
    raise AssertionError("expected an exception")


def test_audio_that_does_not_decode_names_the_file(tmp_path):
    import soundfile

    path = tmp_path / "rec.wav"
    path.write_bytes(b"RIFF not really a wave file")
    message = errors.user_message(_raised(lambda: soundfile.read(path)))
    assert message is not None and str(path) in message and "audio" in message


class _Mkdir:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_checkpoint_that_would_run_code_is_refused_and_named(tmp_path):
    crafted = tmp_path / "epoch-1.pt"
    target = tmp_path / "created-by-the-pickle"
    torch.save({"model": _Mkdir(str(target))}, crafted)
    message = errors.user_message(_raised(lambda: torch.load(crafted, weights_only=True)))
    assert not target.exists()
    assert message is not None and str(crafted) in message and "refused" in message


def test_truncated_checkpoint_is_named(tmp_path):
    full = tmp_path / "full.pt"
    torch.save({"model": {"w": torch.zeros(1000)}}, full)
    cut = tmp_path / "epoch-2.pt"
    cut.write_bytes(full.read_bytes()[:1500])
    message = errors.user_message(_raised(lambda: torch.load(cut, weights_only=True)))
    assert message is not None and str(cut) in message and "damaged" in message


def test_yaml_error_names_file_line_and_column(tmp_path):
    import yaml

    path = tmp_path / "conf.yaml"
    path.write_text("model:\n  tasks: [asr\n")
    with open(path) as f:
        message = errors.user_message(_raised(lambda: yaml.safe_load(f)))
    assert message is not None and message.startswith(f"{path}:3:1: YAML syntax error")


def test_file_system_errors_by_errno():
    import errno

    full = OSError(errno.ENOSPC, "No space left on device", "/exp/epoch-3.pt")
    assert errors.user_message(full) == "/exp/epoch-3.pt: no space left on the device; free some space or write somewhere else"
    # an I/O error of the device is not the user's to fix by changing the input: keep the traceback
    assert errors.user_message(OSError(errno.EIO, "Input/output error", "/exp/epoch-3.pt")) is None


class _BadItems(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        return tokenize_for_error_rate("a b", "syllable")


def test_user_error_raised_in_a_data_loader_worker_is_one_line(command, capsys):
    command(lambda: next(iter(torch.utils.data.DataLoader(_BadItems(), num_workers=1))))
    code, err = run_fake(capsys)
    assert code == 2
    assert err == "hent-srt fake: unit must be 'word' or 'char', got 'syllable'\n"


class _SchemaLikeItems(_BadItems):
    def __getitem__(self, i):
        raise errors.UserError("2 cut(s) violate the cut schema:\n  c0: missing language\nFix: re-run stage 0")


def test_multi_line_user_error_from_a_worker_keeps_its_lines_and_drops_the_traceback(command, capsys):
    command(lambda: next(iter(torch.utils.data.DataLoader(_SchemaLikeItems(), num_workers=1))))
    code, err = run_fake(capsys)
    assert code == 2
    assert err == "hent-srt fake: 2 cut(s) violate the cut schema:\n  c0: missing language\nFix: re-run stage 0\n"


class _MissingFileItems(_BadItems):
    def __init__(self, path: Path):
        self.path = path

    def __getitem__(self, i):
        return self.path.read_bytes()


def test_missing_file_opened_in_a_data_loader_worker_names_it(command, capsys, tmp_path):
    missing = tmp_path / "feats_train" / "feats-0.lca"
    command(lambda: next(iter(torch.utils.data.DataLoader(_MissingFileItems(missing), num_workers=1))))
    code, err = run_fake(capsys)
    assert code == 2 and str(missing) in err and "Traceback" not in err and err.count("\n") == 1
