"""End-to-end smoke run of egs/mini on a 24-utterance synthetic corpus: every stage, two steps of training each,
then the causal twins (``--streaming true``) up to streaming decoding with latency. Their export is tested on its
own (tests/test_export.py) and stage 6's call for them with stand-ins (tests/test_recipe_options.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mini_recipe_runs_end_to_end(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    cmd = [
        "bash", str(REPO / "egs/mini/run.sh"), "--work-dir", str(tmp_path), "--num-train", "24", "--num-dev", "4",
        "--num-test", "6", "--num-jobs", "1", "--blank-penalties", "0,2",
        "--train-args", "--set train.num_epochs=1 --set data.max_duration=30",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    exp = tmp_path / "exp/es-en"
    for stage_dir in ("asr_pretrain", "hent_srt"):
        assert (exp / stage_dir / "epoch-1.pt").is_file()
        assert (exp / stage_dir / "config.yaml").is_file() and (exp / stage_dir / "env.json").is_file()
        assert any((exp / stage_dir / "tensorboard").iterdir())
    decode = exp / "hent_srt/decode"
    (summary_path,) = decode.glob("summary-test-*.json")  # file names carry the setting: summary-test-TAG.json
    tag = summary_path.name[len("summary-test-"):-len(".json")]
    summary = json.loads(summary_path.read_text())
    assert summary["num_utterances"] == 6 and summary["asr"]["metric"] == "WER" and summary["setting"]["tag"] == tag
    assert [row["blank_penalty"] for row in summary["st"]] == [0.0, 2.0]
    assert all("nrefs:1" in row["bleu_signature"] for row in summary["st"])
    for name in (f"hyps-asr-test-{tag}.txt", "refs-asr-test.txt", f"errs-asr-test-{tag}.txt",
                 f"hyps-st-test-{tag}-bp2.txt", "refs-st-test.txt", f"bleu-st-test-{tag}-bp0.txt",
                 f"blank-penalty-test-{tag}.png"):
        assert (decode / name).is_file(), name
    refs = (decode / "refs-st-test.txt").read_text().splitlines()
    assert len(refs) == 6
    results = (tmp_path / "RESULTS.md").read_text()
    assert "## hent_srt (mini es-en, test)" in results and "BLEU signature" in results
    export = exp / "hent_srt/export"
    for name in ("model.pt", "encoder.onnx", "joiner-st.onnx", "tokens-st.txt", "sherpa-onnx/st/encoder.onnx",
                 "README.txt"):
        assert (export / name).is_file(), name
    assert "verification on the first 6 utterances" in proc.stdout
    for fmt in ("torchscript", "onnx"):
        for task in ("asr", "st"):
            assert re.search(rf"^{fmt} +{task} +6/6$", proc.stdout, re.M), (fmt, task, proc.stdout[-2000:])

    streaming = subprocess.run(cmd[:2] + ["--stage", "3", "--stop-stage", "5", "--streaming", "true"] + cmd[2:], env=env,
                               capture_output=True, text=True, timeout=600)
    assert streaming.returncode == 0, streaming.stdout[-3000:] + streaming.stderr[-3000:]
    (summary_path,) = (exp / "hent_srt_streaming/decode").glob("summary-test-*.json")
    tag = summary_path.name[len("summary-test-"):-len(".json")]
    summary = json.loads(summary_path.read_text())
    assert all(set(row["latency"]) >= {"first_token_delay", "average_lagging"} for row in summary["st"])
    assert (exp / f"hent_srt_streaming/decode/latency-st-test-{tag}-bp2.txt").is_file()
    assert "test first-token delay (s)" in (tmp_path / "RESULTS.md").read_text()
    assert not (exp / "hent_srt_streaming/export").exists()

    rerun = subprocess.run(cmd[:2] + ["--stage", "1", "--stop-stage", "2"] + cmd[2:], env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
