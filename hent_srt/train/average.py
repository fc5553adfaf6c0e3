"""``hent-srt average``: average the model over the last epochs into one weights file.

    hent-srt average --exp-dir DIR --epoch E --avg A [--use-averaged-model] --out PATH

Without ``--use-averaged-model``: the plain mean of ``epoch-(E-A+1).pt`` ... ``epoch-E.pt``.
With it (as icefall): the average over every step after ``epoch-(E-A).pt`` up to ``epoch-E.pt``,
from the running averages stored in those two files (needs E - A >= 1).
The result is written atomically as a checkpoint ``{"model": state_dict, ...}`` (plus the end
checkpoint's ``"config"`` entry when it has one, so decoding can rebuild the model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hent_srt.argtypes import boolean, int_at_least
from hent_srt.fileio import require_output_file
from hent_srt.train.checkpoint import (
    CheckpointError,
    average_checkpoints,
    average_checkpoints_with_averaged_model,
    load_checkpoint,
    save_checkpoint,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options on ``parser``."""
    parser.add_argument("--exp-dir", type=Path, required=True, help="experiment directory with epoch-N.pt")
    parser.add_argument("--epoch", type=int_at_least(1), required=True, help="last epoch to include (E)")
    parser.add_argument("--avg", type=int_at_least(1), required=True, help="number of epochs to average (A)")
    parser.add_argument(
        "--use-averaged-model",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="use the running averaged model stored in epoch-(E-A).pt and epoch-E.pt (icefall style)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output weights file, e.g. DIR/avg-E-A.pt")


def plan(exp_dir: Path, epoch: int, avg: int, use_averaged_model: bool) -> list[Path]:
    """The checkpoint files the average needs: ``[start, end]`` with the averaged model, else all epochs."""
    if epoch < 1:
        raise ValueError(f"--epoch {epoch}: must be >= 1")
    if avg < 1:
        raise ValueError(f"--avg {avg}: must be >= 1")
    if use_averaged_model:
        if epoch - avg < 1:
            raise ValueError(
                f"--avg {avg}: with --use-averaged-model the start checkpoint is epoch-{epoch - avg}.pt, "
                f"so --avg must be at most {epoch - 1} for --epoch {epoch}"
            )
        return [exp_dir / f"epoch-{epoch - avg}.pt", exp_dir / f"epoch-{epoch}.pt"]
    if epoch - avg + 1 < 1:
        raise ValueError(
            f"--avg {avg}: only {epoch} epochs end at --epoch {epoch}; use --avg {epoch} or less"
        )
    return [exp_dir / f"epoch-{e}.pt" for e in range(epoch - avg + 1, epoch + 1)]


def main(args: argparse.Namespace) -> int:
    """Run the command; return 0 on success, 2 on an error the user can fix (message on stderr)."""
    try:
        require_output_file(args.out, "--out")
        paths = plan(args.exp_dir, args.epoch, args.avg, args.use_averaged_model)
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ValueError(
                f"missing checkpoint file(s): {', '.join(missing)}; train further or lower --epoch/--avg"
            )
        if args.use_averaged_model:
            state = average_checkpoints_with_averaged_model(paths[0], paths[1])
        else:
            state = average_checkpoints(paths)
        extra = {}
        config = load_checkpoint(paths[-1], mmap=True).get("config")
        if config is not None:
            extra["config"] = config
        save_checkpoint(
            args.out,
            model=state,
            averaged_from=[p.name for p in paths],
            use_averaged_model=bool(args.use_averaged_model),
            epoch=args.epoch,
            avg=args.avg,
            **extra,
        )
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        print(f"hent-srt average: error: {e}", file=sys.stderr)
        return 2
    how = "averaged model" if args.use_averaged_model else "plain mean"
    print(f"wrote {args.out}: {how} over {', '.join(p.name for p in paths)}")
    return 0
