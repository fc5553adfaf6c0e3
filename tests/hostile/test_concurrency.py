"""Two runs into one directory, a run killed with SIGKILL in the middle of writing, and the one-line error of a few
representative user errors from a real process (no traceback, exit 2): cases that need separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from hostile_kit import (
    crafted_checkpoint,
    fail,
    manifest_complete,
    manifest_lines,
    no_code_ran,
    no_temporaries,
    python,
    run_cli,
    snapshot,
    succeeded,
    write_gz_lines,
)


def cli(*argv) -> list[str]:
    return [python(), "-m", "hent_srt.cli", *map(str, argv)]


def copies(raw_cuts, root, count: int):
    """``count`` cuts over the three tones (ids made unique), in ``root/cuts_many.jsonl.gz``."""
    lines = manifest_lines(raw_cuts)
    out = []
    for i in range(count):
        cut = json.loads(lines[i % len(lines)])
        cut["id"] = cut["supervisions"][0]["id"] = f"{cut['id']}-{i}"
        out.append(json.dumps(cut))
    return write_gz_lines(root / "cuts_many.jsonl.gz", out)


@pytest.fixture(scope="module")
def many_cuts(raw_cuts, tmp_path_factory):
    """40 cuts: extraction takes long enough to be interrupted."""
    return copies(raw_cuts, tmp_path_factory.mktemp("many"), 40)


@pytest.fixture(scope="module")
def some_cuts(raw_cuts, tmp_path_factory):
    """9 cuts: a run other than that of the three tones, whose results must not mix with it."""
    return copies(raw_cuts, tmp_path_factory.mktemp("some"), 9)


@pytest.mark.hostile("concurrency")
def test_two_feature_runs_into_one_directory(raw_cuts, some_cuts, tmp_path):
    out = tmp_path / "fbank"
    runs = [subprocess.Popen(cli("features", "--cuts-in", cuts, "--out-dir", out, "--split", "test"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for cuts in (some_cuts, raw_cuts)]
    results = [run.communicate(timeout=300) + (run.returncode,) for run in runs]
    for _, err, code in results:
        if code != 0:
            fail("data-loss" if "Traceback" not in err else "traceback", f"a concurrent run failed ({code}):\n{err}")
    manifest = out / "cuts_test.jsonl.gz"
    manifest_complete(manifest)
    ids = {json.loads(line)["id"] for line in manifest_lines(manifest)}
    if ids not in ({json.loads(line)["id"] for line in manifest_lines(c)} for c in (some_cuts, raw_cuts)):
        fail("data-loss", f"the manifest mixes the two runs: {sorted(ids)[:5]} ...")
    if len(list(out.glob("feats_test-*"))) != 1:
        fail("files", f"arrays of the replaced run are left: {sorted(p.name for p in out.iterdir())}")
    no_temporaries(out)


@pytest.mark.hostile("data-loss")
def test_features_killed_while_writing_keeps_the_earlier_output(feats, many_cuts, tmp_path, capsys):
    out = tmp_path / "fbank"
    assert subprocess.run(["cp", "-r", str(feats.parent), str(out)]).returncode == 0
    manifest = out / "cuts_test.jsonl.gz"
    earlier = manifest.read_bytes()
    run = subprocess.Popen(cli("features", "--cuts-in", many_cuts, "--out-dir", out, "--split", "test"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while run.poll() is None and time.monotonic() < deadline:
        if any(p.name.startswith(".feats_test-") for p in out.iterdir()):
            time.sleep(0.05)
            os.kill(run.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    code = run.wait()
    if code != -signal.SIGKILL:
        pytest.skip(f"the run ended (exit {code}) before it could be killed while writing")
    if manifest.read_bytes() != earlier:
        fail("data-loss", "the earlier manifest changed although the run that replaces it was killed")
    manifest_complete(manifest)
    succeeded(run_cli(capsys, "features", "--cuts-in", many_cuts, "--out-dir", out, "--split", "test"))
    manifest_complete(manifest)
    no_temporaries(out)
    if len(list(out.glob("feats_test-*"))) != 1:
        fail("files", f"arrays of the killed run are left: {sorted(p.name for p in out.iterdir())}")


def _one_line_error(done: subprocess.CompletedProcess, command: str, *names: str) -> None:
    if "Traceback" in done.stderr:
        fail("traceback", done.stderr[-3000:])
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 2 or not last.startswith(f"hent-srt {command}") or any(n not in done.stderr for n in names):
        fail("message", f"exit {done.returncode}; expected 2 and a last line 'hent-srt {command}: ...' naming {names}:"
                        f"\n{done.stderr[-3000:]}")


@pytest.fixture(scope="module")
def real_processes(exp, feats, tmp_path_factory):
    """Three user errors run as real ``python -m hent_srt.cli`` processes, started together (a process spends
    most of its time importing, so they overlap): a YAML syntax error, an empty manifest for ``bpe`` and a
    crafted checkpoint for ``decode``. Returns, per case, the finished process and the paths it was given."""
    root = tmp_path_factory.mktemp("real")
    bad = root / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    empty = write_gz_lines(root / "cuts_train.jsonl.gz", [])
    marker = root / "created-by-the-pickle"
    crafted = crafted_checkpoint(root / "averaged.pt", marker)
    cases = {
        "config": (cli("config", "show", bad), {"bad": bad}),
        "bpe": (cli("bpe", "--cuts", empty, "--side", "source", "--vocab-size", "20", "--out-dir", root / "bpe"),
                {"empty": empty}),
        "decode": (cli("decode", "--exp-dir", exp.dir, "--checkpoint", crafted, "--cuts", feats, "--out-dir",
                       root / "decode"), {"crafted": crafted, "marker": marker, "out": root / "decode"}),
    }
    running = {name: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, (argv, _) in cases.items()}
    done = {}
    for name, run in running.items():
        out, err = run.communicate(timeout=300)
        done[name] = (subprocess.CompletedProcess(run.args, run.returncode, out, err), cases[name][1])
    return done


@pytest.mark.hostile("traceback")
def test_yaml_error_from_a_real_process(real_processes):
    done, paths = real_processes["config"]
    _one_line_error(done, "config", f"{paths['bad']}:2")


@pytest.mark.hostile("traceback")
def test_empty_manifest_for_bpe_from_a_real_process(real_processes):
    done, paths = real_processes["bpe"]
    _one_line_error(done, "bpe", str(paths["empty"]))


@pytest.mark.hostile("code-exec")
def test_crafted_checkpoint_for_decode_from_a_real_process(real_processes):
    done, paths = real_processes["decode"]
    no_code_ran(paths["marker"])
    _one_line_error(done, "decode", str(paths["crafted"]), "refused")
    if paths["out"].exists() and snapshot(paths["out"]):
        fail("files", f"a refused decode wrote {sorted(snapshot(paths['out']))}")
