"""Two CPU processes (gloo) through ``run_training``: weights stay identical across ranks, skips are agreed."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

from hent_srt.train.checkpoint import load_checkpoint
from hent_srt.train.distributed import find_free_port
from hent_srt.train.trainer import fix_random_seed

DEADLINE_S = 240.0  # a hang (ranks out of step) fails the test instead of blocking the suite


def spawn_and_wait(fn, args, nprocs: int) -> None:
    context = mp.start_processes(fn, args=args, nprocs=nprocs, join=False, start_method="spawn")
    deadline = time.monotonic() + DEADLINE_S
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            raise AssertionError(f"DDP workers still running after {DEADLINE_S} s (deadlock?)")


def test_two_ranks_stay_identical_and_skip_together(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # spawned workers import the stand-ins by name
    import trainer_standins as standins

    # 8 utterances, no shuffling: rank 0 sees batches [0,2],[4,6] and rank 1 [1,3],[5,7] each epoch, so the
    # ranks train on different data; utt-5 (rank 1 only, step 2) has a NaN loss, and at step 3 rank 0's loss
    # raises NonFiniteError (as the losses do for NaN inputs) on utt-0.
    config = standins.tiny_config(max_steps=3)
    build = standins.TinyBuild(n_train=8, n_valid=4, shuffle=False, nan_cut_ids=("utt-5",), error_at=((3, "utt-0"),))
    exp_dir, out_dir = tmp_path / "exp", tmp_path / "out"
    out_dir.mkdir()
    spawn_and_wait(standins.ddp_worker, (2, find_free_port(), str(exp_dir), str(out_dir), build, config), 2)

    ranks = [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name, value in ranks[0]["model"].items():
        assert torch.equal(value, ranks[1]["model"][name]), name
    fix_random_seed(config.train.seed)
    initial = standins.TinyModel().state_dict()
    assert not torch.equal(initial["out.weight"], ranks[0]["model"]["out.weight"])
    step1 = load_checkpoint(exp_dir / "epoch-1.pt")["model"]  # after steps 1 (trained) and 2 (skipped)
    for r in range(2):
        state = ranks[r]["state"]
        assert state["batch_idx_train"] == 3 and state["epoch"] == 2 and state["batches_in_epoch"] == 1
        assert state["num_skipped_nonfinite"] == 2  # agreed on both ranks, though each saw one of them
        # the model schedules count both ranks' audio: step * max_duration * world_size / ref_duration
        assert ranks[r]["seen_batch_counts"] == [k * 2.0 * 2 / 600.0 for k in (1, 2, 3)]
        assert ranks[r]["seen_train_steps"] == [1, 2, 3]  # the loss warm-up counts raw steps

    ckpt = load_checkpoint(exp_dir / "checkpoint-3.pt")
    assert ckpt["world_size"] == 2
    assert [s["loader"]["rank"] for s in ckpt["rank_states"]] == [0, 1]
    assert all(s["loader"]["position"] == 1 for s in ckpt["rank_states"])
    for name, value in ckpt["model"].items():
        assert torch.equal(value, ranks[0]["model"][name]), name
        assert torch.equal(value, step1[name]), name  # step 3 was skipped too
    assert (exp_dir / "epoch-1.pt").is_file() and (exp_dir / "config.yaml").is_file()


def test_a_group_joined_at_world_size_one_gets_the_ddp_wrapper(tmp_path, standins):
    # what gpu_check's torchrun run does: one rank, a process group joined before the trainer is built
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from hent_srt.train.trainer import Trainer

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        trainer = Trainer(standins.tiny_config(), standins.TinyModel(), None, None, tmp_path / "exp")
        assert isinstance(trainer.model, DistributedDataParallel) and trainer.model.module is trainer.raw_model
        before = trainer.raw_model.out.weight.detach().clone()
        trainer.state.batch_idx_train = 1
        assert trainer.train_step(standins.collate(standins.make_utterances(2))) is not None
        assert not torch.equal(before, trainer.raw_model.out.weight)
    finally:
        dist.destroy_process_group()
    plain = Trainer(standins.tiny_config(), standins.TinyModel(), None, None, tmp_path / "exp2")
    assert plain.model is plain.raw_model
