"""Checkpoint files, pruning, model averaging formulas and the `hent-srt average` command."""

import argparse

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


def test_failed_write_leaves_old_file_intact_and_no_temp_files(tmp_path):
    path = tmp_path / "checkpoint-10.pt"
    save_checkpoint(path, model={"w": torch.ones(2)}, batch_idx_train=10)
    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(path, model={"w": torch.zeros(1000)}, extra=_Unpicklable())
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(tmp_path / "checkpoint-20.pt", model={"w": torch.zeros(1000)}, extra=_Unpicklable())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10.pt"]


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
