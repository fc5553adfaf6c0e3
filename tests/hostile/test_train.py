"""Hostile inputs to ``hent-srt train``: bad settings and paths, a training set whose every cut is filtered out,
``--init-from`` weights that match nothing or are damaged, ``--resume`` from checkpoints that are not the trainer's,
an experiment directory in use by another run; a short run writes complete files with normal permissions."""

from __future__ import annotations

import subprocess

import pytest
import torch
from hostile_kit import (
    fail,
    file_kept,
    mode_is,
    no_temporaries,
    python,
    run_cli,
    snapshot,
    succeeded,
    truncated,
    unchanged,
    user_error,
)

# what a run that stopped on bad data may have begun writing: its log, the resolved config, the environment and
# an empty TensorBoard run
RUN_INFO = ["train.log", "config.yaml", "env.json", "tensorboard/*"]


@pytest.fixture
def train(train_yaml, tmp_path, capsys):
    """``train(*extra, exp_dir=tmp_path/exp, **sections)``: the outcome of ``hent-srt train``."""

    def run(*extra, exp_dir=None, **sections):
        exp_dir = exp_dir or tmp_path / "exp"
        return run_cli(capsys, "train", "--config", train_yaml(**sections), "--exp-dir", exp_dir, "--no-progress",
                       *extra)

    return run


@pytest.mark.hostile("data-loss")
def test_exp_dir_that_is_a_file(train, tmp_path):
    target = tmp_path / "exp"
    target.write_text("a file\n")
    user_error(train(exp_dir=target), "--exp-dir", str(target))
    file_kept(target)


@pytest.mark.hostile("traceback")
def test_exp_dir_below_a_file(train, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    user_error(train(exp_dir=blocker / "exp"), str(blocker))
    file_kept(blocker, "x")


@pytest.mark.hostile("message")
@pytest.mark.parametrize(("sections", "names"), [
    ({"data": {"train_cuts": ""}}, ["data.train_cuts"]),
    ({"data": {"train_cuts": "/nonexistent/cuts_train.jsonl.gz"}}, ["data.train_cuts", "/nonexistent"]),
    ({"data": {"src_bpe_model": "/nonexistent/bpe.model"}}, ["data.src_bpe_model"]),
    ({"data": {"max_duration": 0}}, ["data.max_duration"]),
    ({"data": {"num_workers": -1}}, ["data.num_workers"]),
    ({"data": {"musan_cuts": "/nonexistent/cuts_musan.jsonl.gz"}}, ["data.musan_cuts"]),
    ({"data": {"musan_prob": 2.0}}, ["data.musan_prob"]),
    ({"data": {"min_utterance_duration": 5.0, "max_utterance_duration": 2.0}}, ["min_utterance_duration"]),
    ({"train": {"num_epochs": 0}}, ["train.num_epochs"]),
    ({"train": {"amp": "fp8"}}, ["train.amp"]),
    ({"train": {"valid_metrics_unit": "syllable"}}, ["train.valid_metrics_unit"]),
    ({"model": {"asr_vocab_size": 7}}, ["model.asr_vocab_size"]),
    ({"optim": {"base_lr": -1.0}}, ["optim.base_lr"]),
])
def test_bad_setting_is_named_before_anything_is_written(train, tmp_path, sections, names):
    user_error(train(**sections), *names)
    exp_dir = tmp_path / "exp"
    if exp_dir.exists():
        unchanged({}, exp_dir, allow_new=["train.log"])


@pytest.mark.hostile("training")
def test_every_cut_filtered_out_is_an_error(train, tmp_path):
    outcome = train(data={"min_utterance_duration": 5.0})
    user_error(outcome, "data.min_utterance_duration")
    if list((tmp_path / "exp").glob("*.pt")):
        fail("silent", f"a run without a single step wrote checkpoints: {sorted((tmp_path / 'exp').glob('*.pt'))}")
    no_temporaries(tmp_path / "exp")


@pytest.mark.hostile("training")
def test_init_from_matching_no_tensor(train, tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"model": {"lm.embedding.weight": torch.zeros(3, 4)}}, other)
    user_error(train("--init-from", other), str(other), hint="--init-allow-partial|--init-from")


@pytest.mark.hostile("training")
def test_init_from_matching_no_tensor_even_when_partial_is_allowed(train, tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"model": {"lm.embedding.weight": torch.zeros(3, 4)}}, other)
    user_error(train("--init-from", other, "--init-allow-partial"), str(other))
    if list((tmp_path / "exp").glob("*.pt")):
        fail("silent", "a run initialised from no tensor at all trained")


@pytest.mark.hostile("traceback")
@pytest.mark.parametrize("kind", ["missing", "directory", "truncated", "text"])
def test_init_from_that_cannot_be_read(train, exp, tmp_path, kind):
    source = tmp_path / "init.pt"
    if kind == "directory":
        source = tmp_path / "init_dir"
        source.mkdir()
    elif kind == "truncated":
        truncated(exp.dir / "epoch-2.pt", source)
    elif kind == "text":
        source.write_text("not weights\n")
    user_error(train("--init-from", source), str(source))
    if list((tmp_path / "exp").glob("*.pt")):
        fail("silent", "training went ahead without its initialisation")


@pytest.mark.hostile("data-loss")
def test_existing_checkpoints_without_resume(train, exp, tmp_path):
    exp_dir = tmp_path / "exp"
    exp_dir.mkdir()
    (exp_dir / "epoch-1.pt").write_bytes((exp.dir / "epoch-1.pt").read_bytes())
    before = snapshot(exp_dir)
    user_error(train(), "--resume", str(exp_dir))
    unchanged(before, exp_dir, allow_new=["train.log"])


@pytest.mark.hostile("training")
@pytest.mark.parametrize("kind", ["not-the-trainers", "truncated"])
def test_resume_from_a_checkpoint_that_is_not_a_trainer_state(train, exp, tmp_path, kind):
    exp_dir = tmp_path / "exp"
    exp_dir.mkdir()
    if kind == "truncated":
        truncated(exp.dir / "epoch-2.pt", exp_dir / "epoch-1.pt")
    else:
        (exp_dir / "epoch-1.pt").write_bytes((exp.dir / "epoch-2.pt").read_bytes())
    before = snapshot(exp_dir)
    user_error(train("--resume"), str(exp_dir / "epoch-1.pt"))
    unchanged(before, exp_dir, allow_new=RUN_INFO)


@pytest.mark.hostile("concurrency")
def test_exp_dir_in_use_by_another_run(train, tmp_path):
    exp_dir = tmp_path / "exp"
    holder = subprocess.Popen(
        [python(), "-c", "import sys, time\nfrom hent_srt.fileio import DirectoryLock\n"
         "lock = DirectoryLock(sys.argv[1]); lock.acquire(); print('held', flush=True); time.sleep(120)",
         str(exp_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        outcome = train(exp_dir=exp_dir)
        if list(exp_dir.glob("*.pt")):
            fail("data-loss", "a second run wrote checkpoints into a directory in use")
        user_error(outcome, str(exp_dir), f"pid {holder.pid}", hint="another")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.hostile("files")
def test_a_short_run_writes_complete_files_with_normal_permissions(train, feats, tmp_path):
    exp_dir = tmp_path / "exp"
    succeeded(train(data={"valid_cuts": str(feats)}, train={"max_steps": 0}))
    written = sorted(exp_dir.glob("*.pt"))
    if not any(p.name == "best-valid-loss.pt" for p in written) or not any(p.name == "epoch-1.pt" for p in written):
        fail("silent", f"missing checkpoints after one epoch: {written}")
    for path in [*written, exp_dir / "config.yaml", exp_dir / "env.json"]:
        mode_is(path)
        if path.suffix == ".pt":
            torch.load(path, weights_only=True)
    no_temporaries(exp_dir)
