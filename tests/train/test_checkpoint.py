"""Checkpoint files, pruning, model averaging formulas and the `hent-srt average` command."""

import argparse
import random
import re

import numpy as np
import pytest
import torch

from hent_srt.train import average as average_cmd
from hent_srt.train.checkpoint import (
    CheckpointError,
    average_checkpoints,
    average_checkpoints_with_averaged_model,
    checkpoint_number,
    find_checkpoints,
    load_checkpoint,
    new_averaged_model,
    prune_checkpoints,
    save_checkpoint,
    update_averaged_model,
)


class _Tiny(torch.nn.Module):
    """Two parameters (weight, bias of Linear(1, 1)) and an integer counter buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(1, 1)
        self.register_buffer("count", torch.tensor(0, dtype=torch.int64))

    def set(self, w: float, b: float, count: int = 0) -> "_Tiny":
        with torch.no_grad():
            self.lin.weight.fill_(w)
            self.lin.bias.fill_(b)
            self.count.fill_(count)
        return self


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("boom while pickling")


def test_save_load_round_trip(tmp_path):
    path = save_checkpoint(tmp_path / "sub" / "epoch-1.pt", model={"w": torch.arange(3.0)}, batch_idx_train=7)
    ckpt = load_checkpoint(path)
    assert torch.equal(ckpt["model"]["w"], torch.arange(3.0)) and ckpt["batch_idx_train"] == 7
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["epoch-1.pt"]


def test_failed_write_leaves_old_file_intact_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint-10.pt"
    save_checkpoint(path, model={"w": torch.ones(2)}, batch_idx_train=10)
    real_save = torch.save

    def save_then_fail(obj, f):  # a crash part-way through writing
        real_save(obj, f)
        raise RuntimeError("boom while writing")

    monkeypatch.setattr(torch, "save", save_then_fail)
    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(path, model={"w": torch.zeros(1000)})
    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(tmp_path / "checkpoint-20.pt", model={"w": torch.zeros(1000)})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10.pt"]


def test_save_refuses_objects_that_are_not_plain_and_writes_nothing(tmp_path):
    path = tmp_path / "checkpoint-10.pt"
    for bad, where in [(_Unpicklable(), "extra"), ({"rng": (np.random.get_state(),)}, "extra['rng'][0]"),
                       ([1, np.float64(2.0)], "extra[1]"), ({np.int64(3): 1}, "extra (key np.int64(3))")]:
        with pytest.raises(ValueError, match=re.escape(where) + ".*tensors and plain"):
            save_checkpoint(path, model={"w": torch.ones(2)}, extra=bad)
    assert list(tmp_path.iterdir()) == []
    plain = {"t": (1, 2.5, None, "x", b"y", True), "s": {3}, "d": torch.float16, "v": torch.device("cpu"),
             "z": torch.Size([2]), "r": random.getstate(), 4: [torch.zeros(1, dtype=torch.bfloat16)]}
    ckpt = load_checkpoint(save_checkpoint(path, model={"w": torch.ones(2)}, extra=plain))
    assert ckpt["extra"]["t"] == plain["t"] and ckpt["extra"]["r"] == plain["r"] and ckpt["extra"]["s"] == {3}


def test_crafted_pickle_is_refused_without_running_it(tmp_path, write_crafted):
    crafted, target = tmp_path / "epoch-1.pt", tmp_path / "created-by-the-pickle"
    write_crafted(crafted, target)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(crafted)
    message = str(err.value)
    assert str(crafted) in message and "refused" in message and "mkdir" in message and "run code" in message
    assert not target.exists()
    # sensitivity: the payload is live, an unsafe load does create the directory
    torch.load(crafted, weights_only=False)
    assert target.is_dir()


def test_checkpoints_written_before_plain_states_still_load(tmp_path):
    # the previous trainer stored numpy's own random-state tuple (an ndarray) in rank_states
    state = np.random.get_state()
    path = tmp_path / "epoch-1.pt"
    torch.save({"model": {"w": torch.ones(2)}, "rank_states": [{"rng": {"numpy": state}}]}, path)
    loaded = load_checkpoint(path)["rank_states"][0]["rng"]["numpy"]
    assert loaded[0] == state[0] and np.array_equal(loaded[1], state[1]) and loaded[2:] == state[2:]
    # other numpy arrays are still refused
    torch.save({"model": {"w": torch.ones(2)}, "x": np.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="state"):
        save_checkpoint(tmp_path / "a.pt")
    with pytest.raises(ValueError, match="directory"):
        save_checkpoint(tmp_path, model={})


def test_load_names_missing_and_corrupt_files(tmp_path):
    missing = tmp_path / "epoch-3.pt"
    with pytest.raises(FileNotFoundError, match="epoch-3.pt"):
        load_checkpoint(missing)
    garbage = tmp_path / "epoch-4.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="epoch-4.pt"):
        load_checkpoint(garbage)
    good = save_checkpoint(tmp_path / "epoch-5.pt", model={"w": torch.randn(100)})
    truncated = tmp_path / "epoch-6.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="epoch-6.pt"):
        load_checkpoint(truncated)
    not_dict = tmp_path / "epoch-7.pt"
    torch.save([1, 2], not_dict)
    with pytest.raises(CheckpointError, match="epoch-7.pt"):
        load_checkpoint(not_dict)


def test_find_checkpoints_sorts_numerically_and_ignores_other_files(tmp_path):
    for name in [
        "epoch-10.pt",
        "epoch-2.pt",
        "epoch-1.pt",
        "checkpoint-100.pt",
        "checkpoint-20.pt",
        "checkpoint-5.pt",
        "best-valid-loss.pt",
        "epoch-x.pt",
        ".epoch-3.pt.1.ab.tmp",
        "epoch-3.pt.bak",
    ]:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_checkpoints(tmp_path)] == ["epoch-1.pt", "epoch-2.pt", "epoch-10.pt"]
    steps = find_checkpoints(tmp_path, kind="step")
    assert [checkpoint_number(p) for p in steps] == [5, 20, 100]
    assert find_checkpoints(tmp_path / "absent") == []
    with pytest.raises(ValueError, match="kind"):
        find_checkpoints(tmp_path, kind="iter")


def test_prune_keeps_the_last_k_step_checkpoints(tmp_path):
    for k in range(10, 101, 10):
        (tmp_path / f"checkpoint-{k}.pt").write_bytes(b"")
    (tmp_path / "epoch-1.pt").write_bytes(b"")
    removed = prune_checkpoints(tmp_path, keep_last_k=3)
    assert [checkpoint_number(p) for p in removed] == [10, 20, 30, 40, 50, 60, 70]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-100.pt",
        "checkpoint-80.pt",
        "checkpoint-90.pt",
        "epoch-1.pt",
    ]
    assert prune_checkpoints(tmp_path, keep_last_k=5) == []
    with pytest.raises(ValueError, match="keep_last_k"):
        prune_checkpoints(tmp_path, keep_last_k=0)


def test_average_checkpoints_hand_computed(tmp_path):
    values = [(1.0, -2.0, 3), (2.0, 0.0, 5), (6.0, 5.0, 9)]
    paths = [
        save_checkpoint(tmp_path / f"epoch-{i + 1}.pt", model=_Tiny().set(*v).state_dict())
        for i, v in enumerate(values)
    ]
    avg = average_checkpoints(paths)
    assert avg["lin.weight"].item() == 3.0 and avg["lin.bias"].item() == 1.0
    assert avg["count"].item() == 9 and avg["count"].dtype == torch.int64
    assert avg["lin.weight"].dtype == torch.float32
    with pytest.raises(ValueError, match="paths"):
        average_checkpoints([])
    odd = save_checkpoint(tmp_path / "epoch-9.pt", model={"other": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="epoch-9.pt"):
        average_checkpoints([paths[0], odd])


def test_update_averaged_model_hand_computed():
    model = _Tiny().set(3.0, 10.0, count=4)
    avg = new_averaged_model(_Tiny().set(1.0, 2.0))
    assert avg.lin.weight.dtype == torch.float64
    update_averaged_model(avg, model, average_period=2, batch_idx_train=4)  # w = 1/2
    assert avg.lin.weight.item() == 2.0 and avg.lin.bias.item() == 6.0 and avg.count.item() == 4
    update_averaged_model(avg, model.set(8.0, 0.0), average_period=2, batch_idx_train=6)  # w = 1/3
    assert avg.lin.weight.item() == pytest.approx(4.0, abs=1e-15)
    assert avg.lin.bias.item() == pytest.approx(4.0, abs=1e-15)
    with pytest.raises(ValueError, match="batch_idx_train"):
        update_averaged_model(avg, model, average_period=2, batch_idx_train=1)
    with pytest.raises(ValueError, match="average_period"):
        update_averaged_model(avg, model, average_period=0, batch_idx_train=4)
    with pytest.raises(ValueError, match="model_avg"):
        update_averaged_model(new_averaged_model(torch.nn.Linear(1, 1)), model, 2, 4)


def _train_and_snapshot(tmp_path, period, saves):
    """Random-walk 'training'; returns per-step weights and writes checkpoints at the `saves` steps."""
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 2)
    avg = new_averaged_model(model)
    history = {}
    for step in range(1, max(saves) + 1):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen))
        history[step] = {k: v.clone().double() for k, v in model.state_dict().items()}
        if step % period == 0:
            update_averaged_model(avg, model, period, step)
        if step in saves:
            save_checkpoint(
                tmp_path / f"epoch-{saves.index(step) + 1}.pt",
                model=model.state_dict(),
                model_avg=avg.state_dict(),
                batch_idx_train=step,
            )
    return history


def test_averaged_model_difference_equals_brute_force_mean(tmp_path):
    period, saves = 3, [12, 30, 45]
    history = _train_and_snapshot(tmp_path, period, saves)
    got = average_checkpoints_with_averaged_model(tmp_path / "epoch-1.pt", tmp_path / "epoch-3.pt")
    snapshots = [history[s] for s in range(12 + period, 45 + 1, period)]  # steps 15, 18, ..., 45
    for k, v in got.items():
        brute = torch.stack([s[k] for s in snapshots]).mean(dim=0)
        assert v.dtype == torch.float32
        torch.testing.assert_close(v.double(), brute, rtol=1e-6, atol=1e-5)
    # the running average itself is the mean of all snapshots so far
    full = load_checkpoint(tmp_path / "epoch-2.pt")["model_avg"]
    brute_full = torch.stack([history[s]["weight"] for s in range(period, 31, period)]).mean(dim=0)
    torch.testing.assert_close(full["weight"], brute_full, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="end_path"):
        average_checkpoints_with_averaged_model(tmp_path / "epoch-3.pt", tmp_path / "epoch-1.pt")


def _run_average(argv):
    parser = argparse.ArgumentParser()
    average_cmd.add_arguments(parser)
    return average_cmd.main(parser.parse_args(argv))


def test_average_command_writes_both_kinds_of_average(tmp_path, capsys):
    _train_and_snapshot(tmp_path, 2, [4, 8, 12])
    out = tmp_path / "avg.pt"
    assert _run_average(["--exp-dir", str(tmp_path), "--epoch", "3", "--avg", "2", "--out", str(out)]) == 0
    expected = average_checkpoints([tmp_path / "epoch-2.pt", tmp_path / "epoch-3.pt"])
    written = load_checkpoint(out)
    assert written["averaged_from"] == ["epoch-2.pt", "epoch-3.pt"]
    for k, v in expected.items():
        assert torch.equal(written["model"][k], v)

    argv = [
        "--exp-dir",
        str(tmp_path),
        "--epoch",
        "3",
        "--avg",
        "2",
        "--use-averaged-model",
        "--out",
        str(out),
    ]
    assert _run_average(argv) == 0
    expected = average_checkpoints_with_averaged_model(tmp_path / "epoch-1.pt", tmp_path / "epoch-3.pt")
    written = load_checkpoint(out)
    assert written["use_averaged_model"] is True
    for k, v in expected.items():
        assert torch.equal(written["model"][k], v)
    assert "wrote" in capsys.readouterr().out


def test_average_command_reports_missing_files_and_bad_ranges(tmp_path, capsys):
    _train_and_snapshot(tmp_path, 2, [4, 8])
    out = tmp_path / "avg.pt"
    assert _run_average(["--exp-dir", str(tmp_path), "--epoch", "4", "--avg", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "epoch-3.pt" in err and "epoch-4.pt" in err
    argv = [
        "--exp-dir",
        str(tmp_path),
        "--epoch",
        "2",
        "--avg",
        "2",
        "--use-averaged-model",
        "--out",
        str(out),
    ]
    assert _run_average(argv) == 2
    assert "--avg" in capsys.readouterr().err
    assert _run_average(["--exp-dir", str(tmp_path), "--epoch", "2", "--avg", "3", "--out", str(out)]) == 2
    (tmp_path / "epoch-2.pt").write_bytes(b"garbage")
    assert _run_average(["--exp-dir", str(tmp_path), "--epoch", "2", "--avg", "2", "--out", str(out)]) == 2
    assert "epoch-2.pt" in capsys.readouterr().err
    assert not out.exists()


def test_average_command_refuses_crafted_checkpoints(tmp_path, capsys, write_crafted):
    _train_and_snapshot(tmp_path, 2, [4, 8])
    target, out = tmp_path / "created-by-the-pickle", tmp_path / "avg.pt"
    write_crafted(tmp_path / "epoch-2.pt", target)
    for extra in ([], ["--use-averaged-model"]):
        argv = ["--exp-dir", str(tmp_path), "--epoch", "2", "--avg", "1", *extra, "--out", str(out)]
        assert _run_average(argv) == 2
        err = capsys.readouterr().err
        assert "epoch-2.pt" in err and "refused" in err
    assert not target.exists() and not out.exists()
