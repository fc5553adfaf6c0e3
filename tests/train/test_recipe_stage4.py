"""Stage 4 of scripts/recipe_stages.sh starts from the stage-3 checkpoint that ``init_checkpoint`` names.

``hent-srt`` is replaced by a stub on PATH that records its arguments, so only the stage's choices run."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_stage4(tmp_path: Path, epochs: tuple[int, ...], best: bool, **options: str) -> tuple[int, list[str], str]:
    """(exit status, recorded hent-srt command lines, stderr) of stage 4 with ``options`` as recipe variables."""
    pretrain = tmp_path / "exp" / "asr_pretrain"
    pretrain.mkdir(parents=True, exist_ok=True)
    for e in epochs:
        (pretrain / f"epoch-{e}.pt").touch()
    if best:
        (pretrain / "best-valid-loss.pt").touch()
    for path in ("fbank/cuts_train.jsonl.gz", "fbank/cuts_dev.jsonl.gz", "bpe_src/bpe.model", "bpe_src/tokens.txt",
                 "bpe_tgt/bpe.model", "bpe_tgt/tokens.txt"):  # the stage's inputs, which it checks exist
        (tmp_path / "data" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / path).touch()
    (tmp_path / "conf").mkdir(exist_ok=True)
    (tmp_path / "conf" / "hent_srt.yaml").touch()  # the conf stage 4 trains, which the recipe checks exists
    stub = tmp_path / "bin" / "hent-srt"
    stub.parent.mkdir(exist_ok=True)
    calls = tmp_path / "calls.txt"
    stub.write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\n')
    stub.chmod(0o755)
    settings = {"stage": "4", "stop_stage": "4", "exp": str(tmp_path / "exp"), "data": str(tmp_path / "data"),
                "train_split": "train", "dev_split": "dev", "ngpu": "1", "musan_dir": "none", **options}
    script = "set -euo pipefail\n" + "".join(f"{k}={v}\n" for k, v in settings.items())
    script += f". {REPO}/scripts/recipe_stages.sh\n"
    calls.unlink(missing_ok=True)
    env = dict(os.environ, PATH=f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    recorded = calls.read_text().splitlines() if calls.exists() else []
    return proc.returncode, recorded, proc.stderr


def init_from(call: str) -> str:
    words = call.split()
    return words[words.index("--init-from") + 1]


def test_default_starts_from_best_valid_loss(tmp_path):
    status, calls, _ = run_stage4(tmp_path, (1, 2, 3), best=True)
    assert status == 0 and len(calls) == 1 and calls[0].startswith("train --config conf/hent_srt.yaml")
    assert init_from(calls[0]) == str(tmp_path / "exp/asr_pretrain/best-valid-loss.pt")


def test_last_starts_from_the_last_epoch(tmp_path):
    status, calls, _ = run_stage4(tmp_path, (1, 2, 10), best=True, init_checkpoint="last")
    assert status == 0 and init_from(calls[0]) == str(tmp_path / "exp/asr_pretrain/epoch-10.pt")


@pytest.mark.parametrize("avg, expected", [("", "--epoch 3 --avg 2 --use-averaged-model"),
                                           ("1", "--epoch 3 --avg 1 --use-averaged-model"),
                                           ("13", "--epoch 3 --avg 2 --use-averaged-model")])
def test_averaged_averages_stage_3_as_stage_5_does(tmp_path, avg, expected):
    status, calls, _ = run_stage4(tmp_path, (1, 2, 3), best=True, init_checkpoint="averaged", **({"avg": avg} if avg else {}))
    assert status == 0 and len(calls) == 2
    pretrain = tmp_path / "exp/asr_pretrain"
    out = init_from(calls[1])
    assert calls[0] == f"average --exp-dir {pretrain} {expected} --out {out}"
    assert Path(out).parent == pretrain and calls[1].startswith("train ")


def test_averaged_with_one_epoch_is_that_epoch(tmp_path):
    status, calls, _ = run_stage4(tmp_path, (1,), best=False, init_checkpoint="averaged")
    assert status == 0 and "--epoch 1 --avg 1 --out" in calls[0] and "--use-averaged-model" not in calls[0]


def test_missing_best_and_unknown_choice_are_errors(tmp_path):
    status, calls, err = run_stage4(tmp_path, (1, 2), best=False)
    assert status == 2 and calls == [] and "best-valid-loss.pt" in err and "--init-checkpoint last" in err
    status, calls, err = run_stage4(tmp_path, (1, 2), best=True, init_checkpoint="newest")
    assert status == 2 and calls == [] and "best, last or averaged" in err
