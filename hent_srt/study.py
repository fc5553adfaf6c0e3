"""STUDY.md for ``egs/mini/study.sh``: models x CR-CTC x language pairs, mean ± std over training seeds.

The study's runs leave ``hent-srt decode`` summaries (``summary-<split>-<TAG>.json``, TAG the decoding setting,
e.g. ``greedy-sym20-averaged``; one setting per directory) at

    <exp_root>/<pair>/seed<S>/<model><suffix>/decode/summary-{dev,test}-TAG.json   stage-4 models (ASR + ST)
    <exp_root>/<pair>/seed<S>/<model><suffix>/decode/adaptive-<E>/summary-test-TAG.json
                                                       the same, adaptive ST blank penalty with estimator E
    <exp_root>/<pair>/seed<S>/<pretrain><suffix>/decode/summary-test-TAG.json      their stage-3 (ASR-only) model
    <exp_root>/<pair>/seed<S>/<asr_only><suffix>/decode/summary-test-TAG.json      the ASR-only reference (optional)

with ``suffix`` "_cr" with CR-CTC and "" without (the demo's confs train without it). For each run the ST blank
penalty is the one with the best dev BLEU (ties: the smaller penalty); the test scores are read at that penalty,
never chosen on test. Per (pair, model, CR-CTC) row and over the seeds found: test WER (CER for a pair scored on
characters), the ASR degradation (stage-4 WER minus the WER of the stage-3 model it was initialised from, same
seed), with an ASR-only reference (``--asr-only``: stage 4 from the same stage-3 model with the ST task left out,
egs/mini/conf/asr_only.yaml) the cost of joint training (stage-4 WER minus the reference's, same seed), BLEU,
chrF++, length ratio, and the scores split by reordering (:func:`hent_srt.metrics.reordering_scores`: BLEU on
monotone sentences, on reordered ones (>= 1 crossing link) and on strongly reordered ones (>= 10), chrF++ on the
first two, RIBES). A second table per pair compares, on test, the adaptive ST blank penalty of each estimator
(:mod:`hent_srt.decode.adaptive`) with the dev-tuned constant penalty scored in the same decode: its BLEU and the
difference. With ``--data-root`` (run.sh's data directory, whose test manifest records each sentence's crossing
links) a third table compares each model with the first of ``--models`` run by run (same seed and CR-CTC setting,
each at its dev-tuned penalty): the test BLEU difference on all, monotone and reordered sentences with its 95%
paired bootstrap interval (:mod:`hent_srt.significance`), since with 35 monotone sentences a seed's difference can be
noise. With ``--test-splits "test test2"`` (study.sh ``--num-test2 N``: a second test set, disjoint from the
corpus's splits) the tables are repeated for each split, every run still at the ST penalty chosen on dev. With
``--asr-tuned`` (the runs decoded with ``--blank-penalty-asr tune``) every summary read is one
whose ASR blank penalty was chosen on dev (``asr.blank_penalty_tuning``), and the table gives the chosen penalty
of each seed; without it, only summaries decoded at a fixed ASR penalty are read. A cell is ``mean ± s`` with
``s`` the sample standard deviation (n - 1), the mean alone for one seed.
Missing runs are listed, not guessed. The file ends with what the trainings read ran on, from the ``env.json`` of
each stage-3, stage-4 and reference directory (with the earlier attempts it keeps): CPU model, the instruction set
torch dispatched to, and thread count, since a CPU run repeats bit for bit only on one kind of CPU at one count.

    python -m hent_srt.study --exp-root exp/study/exp --pairs "es-en zh-en" --seeds "1 2 3" \\
        --models "nt_shared hier1 hier2" --cr "true false" --adaptive "asr_length st_ctc" --asr-only asr_only \\
        --data-root exp/study/data --out STUDY.md
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hent_srt.data.corpora.synth import read_crossings
from hent_srt.fileio import write_text_atomic
from hent_srt.metrics import match_ids, read_kaldi_text
from hent_srt.significance import paired_bootstrap_by_subset
from hent_srt.train.env_info import env_records

CR_SUFFIX = "_cr"
INTRO = (
    "Written by `egs/mini/study.sh` (hent_srt/study.py) from the decode summaries of its runs. Each row: one "
    "model, with or without CR-CTC, mean ± sample standard deviation over the training seeds listed (the corpus "
    "is the same for every seed). The ST blank penalty of each run is the best one on dev; test scores are read "
    "at it. 'stage 4 − stage 3' is the ASR degradation of joint training: the test error rate of the ASR + ST "
    "model minus that of the ASR-only model it was initialised from; where stage 3 has not converged it mostly "
    "measures stage 4's further ASR training. '− ASR-only' compares with an ASR-only model trained like stage 4 "
    "from the same stage-3 model (the same updates, no ST task): the ASR cost of the joint training itself. "
    "The split columns score the test sentences "
    "by the number of crossing links of their word alignment (monotone: 0; reordered: >= 1; >= 10), with the "
    "number of sentences in brackets; RIBES is over all test sentences."
)
ASR_TUNED = (" Every decode here (stage 4, stage 3 and the ASR-only reference) chose its ASR blank penalty on dev "
             "(`--blank-penalty-asr tune`), and the ASR error rates are at that penalty; the last column gives the "
             "stage-4 model's choice per seed.")
ASR_FIXED = " The ASR head is decoded at a fixed blank penalty (the decode's `--blank-penalty-asr`, 0 by default)."
SPLIT_COLUMNS = (("monotone", "bleu", "BLEU mono."), ("reordered", "bleu", "BLEU reord."),
                 ("reordered_10", "bleu", "BLEU reord. >= 10"), ("monotone", "chrf", "chrF++ mono."),
                 ("reordered", "chrf", "chrF++ reord."), ("all", "ribes", "RIBES"))


@dataclass
class RunScores:
    """The numbers of one (pair, model, CR-CTC, seed) run; ``split`` maps "subset.key" to a value."""

    seed: int
    metric: str
    error_rate: float
    degradation: float
    joint_cost: float | None
    """test error rate minus the ASR-only reference's (same seed and CR-CTC setting); None without it"""
    penalty: float
    bleu: float
    chrf: float
    length_ratio: float
    bleu_signature: str
    split: dict[str, float] = field(default_factory=dict)
    split_counts: dict[str, int] = field(default_factory=dict)
    adaptive: dict[str, tuple[float, float]] = field(default_factory=dict)
    """estimator → (adaptive test BLEU, the dev-tuned constant penalty's test BLEU in the same decode)"""
    asr_penalty: float | None = None
    """the ASR blank penalty chosen on dev (decoded with ``--blank-penalty-asr tune``); None at a fixed one"""
    test_hyps: Path | None = None
    """the test translations at ``penalty`` (``hyps-st-<split>-TAG-bp<P>.txt`` beside the test summary)"""


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a decode summary ({err}); rerun stage 5 of that run") from err


def run_dir(exp_root: Path, pair: str, seed: int, name: str, cr: bool) -> Path:
    """Experiment directory of conf ``name`` (with or without CR-CTC) of one pair and seed."""
    return exp_root / pair / f"seed{seed}" / f"{name}{CR_SUFFIX if cr else ''}"


def is_asr_tuned(summary: dict) -> bool:
    """Whether a decode summary's ASR blank penalty was chosen on dev (``--tune-blank-penalty-asr-on``)."""
    return "blank_penalty_tuning" in (summary.get("asr") or {})


def find_summary(decode_dir: Path, split: str, asr_tuned: bool = False) -> Path | None:
    """The one ``summary-<split>-TAG.json`` of ``decode_dir`` whose ASR blank penalty was tuned on dev
    (``asr_tuned``) or fixed (not ``asr_tuned``), None when there is none; ValueError when several decoding settings
    left one each, since the study would not know which to read."""
    found = [p for p in sorted(decode_dir.glob(f"summary-{split}-*.json")) if is_asr_tuned(_load(p)) == asr_tuned]
    if len(found) > 1:
        raise ValueError(f"{decode_dir} holds summaries of several decoding settings for {split} "
                         f"({', '.join(p.name for p in found)}); the study reads one: move the others away")
    return found[0] if found else None


def best_dev_row(dev: dict, source: Path) -> dict:
    """The ST row of a dev summary with the highest BLEU (ties: the smallest blank penalty)."""
    rows = dev.get("st") or []
    if not rows:
        raise ValueError(f"{source}: no ST rows; the study needs the dev set decoded by an ASR + ST model")
    return max(rows, key=lambda r: (r["bleu"], -r["blank_penalty"]))


def read_run(exp_root: Path, pair: str, seed: int, model: str, pretrain: str, cr: bool,
             asr_only: str = "", asr_tuned: bool = False, split: str = "test") -> RunScores | None:
    """Scores of one run on the test split ``split``, or None when one of its three summaries is missing;
    ``asr_only``: the conf name of the ASR-only reference, whose summary of ``split`` gives ``joint_cost`` when it
    exists; ``asr_tuned``: read the summaries decoded with the ASR blank penalty tuned on dev (:func:`find_summary`).
    The ST blank penalty is always the one chosen on dev."""
    decode = run_dir(exp_root, pair, seed, model, cr) / "decode"
    paths = (find_summary(decode, "dev", asr_tuned), find_summary(decode, split, asr_tuned),
             find_summary(run_dir(exp_root, pair, seed, pretrain, cr) / "decode", split, asr_tuned))
    if None in paths:
        return None
    dev, test, pre = (_load(p) for p in paths)
    chosen = best_dev_row(dev, paths[0])["blank_penalty"]
    row = next((r for r in test.get("st", []) if r["blank_penalty"] == chosen), None)
    if row is None:
        raise ValueError(f"{paths[1]}: no ST row at blank penalty {chosen:g} (chosen on dev); decode dev and test "
                         "with the same --blank-penalty list")
    reference_path = (find_summary(run_dir(exp_root, pair, seed, asr_only, cr) / "decode", split, asr_tuned)
                      if asr_only else None)
    reference = _load(reference_path) if reference_path else None
    for summary, path in ((test, paths[1]), (pre, paths[2]), (reference, reference_path)):
        if summary is not None and "asr" not in summary:
            raise ValueError(f"{path}: no ASR result in this decode summary")
    by_subset, counts = {}, {}
    for subset, values in (row.get("reordering") or {}).items():
        counts[subset] = values["num_segments"]
        for key in ("bleu", "chrf", "ribes"):
            if key in values:
                by_subset[f"{subset}.{key}"] = values[key]
    return RunScores(
        seed=seed, metric=test["asr"]["metric"], error_rate=test["asr"]["error_rate"],
        degradation=test["asr"]["error_rate"] - pre["asr"]["error_rate"],
        joint_cost=None if reference is None else test["asr"]["error_rate"] - reference["asr"]["error_rate"],
        penalty=chosen, bleu=row["bleu"],
        chrf=row["chrf"], length_ratio=row["length_ratio"], bleu_signature=row["bleu_signature"], split=by_subset,
        split_counts=counts,
        asr_penalty=test["asr"]["blank_penalty_tuning"]["blank_penalty"] if asr_tuned else None,
        test_hyps=paths[1].with_name(f"hyps-st-{paths[1].name[len('summary-'):-len('.json')]}-bp{chosen:g}.txt"),
    )


def read_adaptive(exp_root: Path, pair: str, seed: int, model: str, cr: bool, estimator: str,
                  asr_tuned: bool = False, split: str = "test") -> tuple[float, float] | None:
    """(adaptive BLEU on ``split``, the dev-tuned constant's BLEU in the same decode) of one run and estimator, or
    None when that decode is missing."""
    path = find_summary(run_dir(exp_root, pair, seed, model, cr) / "decode" / f"adaptive-{estimator}", split,
                        asr_tuned)
    if path is None:
        return None
    row = _load(path).get("st_adaptive")
    if row is None:
        raise ValueError(f"{path}: no st_adaptive entry; decode the test set again with --blank-penalty adaptive")
    if row.get("estimator", "asr_length") != estimator:
        raise ValueError(f"{path}: decoded with the estimator {row.get('estimator')!r}, not {estimator!r}")
    return row["bleu"], row["dev_best_constant"]["bleu"]


MachineRecord = tuple[str | None, int | None]
"""(CPU as "model (instruction set)", torch threads) of one training record; None where it was not recorded"""


def _machine_record(record: object) -> MachineRecord | None:
    """One env.json record as a :data:`MachineRecord`; None for a record that cannot be read."""
    if not isinstance(record, dict) or "unreadable_env_json" in record:
        return None
    cpu = record.get("cpu") if isinstance(record.get("cpu"), dict) else {}
    kind = f"{cpu['model']} ({cpu.get('capability')})" if cpu.get("model") else None
    return kind, record.get("torch_num_threads")


def training_machines(exp_dir: Path) -> list[MachineRecord | None]:
    """What the trainings of ``exp_dir`` ran on, one entry per record of its env.json
    (:func:`hent_srt.train.env_info.env_records`: the earlier attempts first); ``[None]`` without an env.json."""
    try:
        records = env_records(exp_dir / "env.json")
    except OSError:
        records = []
    return [_machine_record(r) for r in records] or [None]


def _machine_text(record: MachineRecord | None) -> str:
    if record is None:
        return "no readable env.json"
    kind, threads = record
    text = kind or "CPU not recorded"
    return text if threads is None else f"{text}, {threads} thread{'' if threads == 1 else 's'}"


def machines_line(exp_dirs: Sequence[Path]) -> str:
    """The study's closing line: how many training records of ``exp_dirs`` ran on each CPU and thread count, with
    a warning when they name more than one kind of CPU."""
    records = [r for exp_dir in sorted(set(exp_dirs)) for r in training_machines(exp_dir)]
    counts = Counter(_machine_text(r) for r in records)
    text = ("Trained on (the env.json of each stage-3, stage-4 and reference run read, earlier attempts included): "
            + "; ".join(f"{d}: {n}" for d, n in sorted(counts.items())) + ".")
    if len({r[0] for r in records if r is not None and r[0] is not None}) > 1:
        text += (" These are not one kind of CPU: a run repeats bit for bit only on one kind at one thread count, so "
                 "runs made on different kinds are separate samples.")
    return text


def mean_std(values: Sequence[float], digits: int = 2, signed: bool = False) -> str:
    """``mean ± s`` (sample standard deviation), the mean alone for one value, "—" for none; ``signed``: the mean
    with its sign (for differences)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "—"
    mean = f"{statistics.mean(values):{'+' if signed else ''}.{digits}f}"
    return mean if len(values) == 1 else f"{mean} ± {statistics.stdev(values):.{digits}f}"


def format_study(exp_root: Path, pairs: Sequence[str], seeds: Sequence[int], models: Sequence[str],
                 crs: Sequence[bool], pretrain: str = "asr_pretrain", command: str = "",
                 estimators: Sequence[str] = (), asr_only: str = "", asr_tuned: bool = False,
                 data_root: Path | None = None, test_splits: Sequence[str] = ("test",)) -> tuple[str, list[str]]:
    """(markdown, missing runs) of the study found under ``exp_root``; ``estimators``: the adaptive-penalty
    estimators whose test decodes are tabled; ``asr_only``: the conf name of the ASR-only reference ("" for none);
    ``asr_tuned``: the decodes with the ASR blank penalty tuned on dev, whose choice is tabled; ``data_root``
    (run.sh's data directory, :func:`test_cuts_path`): also the paired bootstrap of each model against the first
    of ``models``, run by run (:func:`bootstrap_table`); ``test_splits``: the tables of each of these test splits
    (the first also under the pair's own heading; e.g. ``("test", "test2")`` for a second test set)."""
    lines = ["# egs/mini study", "", INTRO + (ASR_TUNED if asr_tuned else ASR_FIXED), ""]
    if command:
        lines += ["Command:", "", "```sh", command, "```", ""]
    tables = _Tables(exp_root, seeds, models, crs, pretrain, estimators, asr_only, asr_tuned, data_root)
    for pair in pairs:
        for index, split in enumerate(test_splits):
            lines += tables.pair_split(pair, split, f"## {pair}" if index == 0 else f"## {pair}: test split {split}")
    if tables.signatures:
        lines += ["BLEU signature: " + "; ".join(f"`{s}`" for s in sorted(tables.signatures)), ""]
    if tables.missing:
        lines += ["Runs not found (not finished or not run): " + "; ".join(tables.missing) + ".", ""]
    if tables.trained:
        lines += [machines_line(tables.trained), ""]
    return "\n".join(lines), tables.missing


@dataclass
class _Tables:
    """The study's settings, and what its tables found so far: missing runs, BLEU signatures, trained directories."""

    exp_root: Path
    seeds: Sequence[int]
    models: Sequence[str]
    crs: Sequence[bool]
    pretrain: str
    estimators: Sequence[str]
    asr_only: str
    asr_tuned: bool
    data_root: Path | None
    missing: list[str] = field(default_factory=list)
    signatures: set[str] = field(default_factory=set)
    trained: list[Path] = field(default_factory=list)

    def pair_split(self, pair: str, split: str, heading: str) -> list[str]:
        """Markdown lines of one pair on one test split: the main table, the adaptive table, the bootstrap table."""
        table: list[str] = []
        adaptive_table: list[str] = []
        metric = "WER"
        counts: dict[str, int] = {}
        pair_runs: dict[tuple[str, bool], list[RunScores]] = {}
        on = "" if split == "test" else f" on {split}"
        for model in self.models:
            for cr in self.crs:
                runs = pair_runs.setdefault((model, cr), [])
                for seed in self.seeds:
                    run = read_run(self.exp_root, pair, seed, model, self.pretrain, cr, self.asr_only,
                                   self.asr_tuned, split)
                    what = f"{pair} {model} {'with' if cr else 'without'} CR-CTC, seed {seed}{on}"
                    if run is None:
                        self.missing.append(what)
                        continue
                    runs.append(run)
                    self.trained += [run_dir(self.exp_root, pair, seed, name, cr) for name in (model, self.pretrain)]
                    if run.joint_cost is not None:
                        self.trained.append(run_dir(self.exp_root, pair, seed, self.asr_only, cr))
                    reference = (f"{pair} ASR-only reference {self.asr_only}{CR_SUFFIX if cr else ''}, "
                                 f"seed {seed}{on}")
                    if self.asr_only and run.joint_cost is None and reference not in self.missing:
                        self.missing.append(reference)
                    for estimator in self.estimators:
                        scores = read_adaptive(self.exp_root, pair, seed, model, cr, estimator, self.asr_tuned,
                                               split)
                        if scores is None:
                            self.missing.append(f"{what}, adaptive {estimator}")
                        else:
                            run.adaptive[estimator] = scores
                if not runs:
                    continue
                metric = runs[0].metric
                counts = counts or runs[0].split_counts
                self.signatures.update(r.bleu_signature for r in runs)
                table.append(self._main_row(model, cr, runs))
                if self.estimators:
                    adaptive_table.append(_adaptive_row(model, cr, runs, self.estimators))
        if not table:
            return []
        split_names = [f"{label} ({counts.get(subset, 0)})" if subset != "all" else label
                       for subset, _, label in SPLIT_COLUMNS]
        header = ["model", "CR-CTC", "seeds", f"{split} {metric}", f"{metric} stage 4 − stage 3",
                  *([f"{metric} − ASR-only"] if self.asr_only else []), "BLEU", "chrF++", "len. ratio", *split_names,
                  "ST blank penalty (dev)", *(["ASR blank penalty (dev)"] if self.asr_tuned else [])]
        lines = [heading, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *table, ""]
        if self.estimators:
            header = ["model", "CR-CTC", "seeds", "BLEU at the dev-tuned constant"]
            for estimator in self.estimators:
                header += [f"adaptive ({estimator})", f"adaptive ({estimator}) − constant"]
            lines += [f"Adaptive ST blank penalty on {pair} ({split} BLEU; the constant is scored in the same "
                      "decode):", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                      *adaptive_table, ""]
        if self.data_root is not None and len(self.models) > 1:
            lines += bootstrap_table(pair, pair_runs, self.models[0], test_cuts_path(self.data_root, pair, split),
                                     split=split)
        return lines

    def _main_row(self, model: str, cr: bool, runs: Sequence[RunScores]) -> str:
        cells = [model, "yes" if cr else "no", " ".join(str(r.seed) for r in runs),
                 mean_std([r.error_rate for r in runs]), mean_std([r.degradation for r in runs])]
        if self.asr_only:  # over the seeds that have a reference, named when some lack one
            costed = [r for r in runs if r.joint_cost is not None]
            cell = mean_std([r.joint_cost for r in costed], signed=True)
            if costed and len(costed) < len(runs):
                cell += f" (seed {' '.join(str(r.seed) for r in costed)})"
            cells.append(cell)
        cells += [mean_std([r.bleu for r in runs]), mean_std([r.chrf for r in runs]),
                  mean_std([r.length_ratio for r in runs], 3)]
        cells += [mean_std([r.split.get(f"{s}.{k}") for r in runs]) for s, k, _ in SPLIT_COLUMNS]
        cells.append(" ".join(f"{r.penalty:g}" for r in runs))
        if self.asr_tuned:
            cells.append(" ".join(f"{r.asr_penalty:g}" for r in runs))
        return "| " + " | ".join(cells) + " |"


def test_cuts_path(data_root: Path, pair: str, split: str = "test") -> Path:
    """The manifest of the test split ``split`` run.sh decodes for ``pair`` under ``data_root`` (its
    ``--work-dir``'s data/)."""
    return data_root / pair / "fbank" / f"cuts_{split}.jsonl.gz"


def _test_translations(run: RunScores, split: str) -> tuple[dict[str, str], dict[str, str]]:
    """(hypotheses, references) of a run's translations of the test split ``split`` (the one ``run`` was read on)
    at its dev-tuned penalty, as the decode wrote them."""
    if run.test_hyps is None:
        raise ValueError(f"seed {run.seed}: no test translations recorded for this run")
    refs_path = run.test_hyps.with_name(f"refs-st-{split}.txt")
    for path in (run.test_hyps, refs_path):
        if not path.is_file():
            raise ValueError(f"{path}: missing beside its decode summary; decode that run's test set again")
    return read_kaldi_text(run.test_hyps), read_kaldi_text(refs_path)


def bootstrap_table(pair: str, runs: dict[tuple[str, bool], list[RunScores]], baseline: str, cuts: Path,
                    num_resamples: int = 1000, split: str = "test") -> list[str]:
    """Markdown lines: per seed, the test BLEU difference of each model from ``baseline`` (same seed and CR-CTC
    setting, each at its dev-tuned penalty) on all, monotone and reordered sentences, with its paired bootstrap
    interval (:func:`hent_srt.significance.paired_bootstrap_by_subset`); the crossing counts from ``cuts``, the
    manifest of ``split``, the test split the runs were read on."""
    rows: list[str] = []
    counts: dict[str, int] = {}
    crossings: dict[str, int] = {}
    for (model, cr), model_runs in runs.items():
        if model == baseline:
            continue
        base_by_seed = {r.seed: r for r in runs.get((baseline, cr), [])}
        for run in model_runs:
            base = base_by_seed.get(run.seed)
            if base is None:
                continue
            system, refs = _test_translations(run, split)
            base_hyps, _ = _test_translations(base, split)
            refs_name = f"refs-st-{split}.txt"
            ids = match_ids(system, refs, str(run.test_hyps), refs_name)
            match_ids(base_hyps, refs, str(base.test_hyps), refs_name)
            if not crossings.keys() >= set(ids):  # the manifest is read once per pair (every run decodes the same set)
                crossings.update(zip(ids, read_crossings(cuts, ids)))
            results = paired_bootstrap_by_subset([base_hyps[i] for i in ids], [system[i] for i in ids],
                                                 [[refs[i] for i in ids]], [crossings[i] for i in ids],
                                                 num_resamples)
            counts = {name: r.num_segments for name, r in results.items()}
            cells = [model, "yes" if cr else "no", str(run.seed)]
            for subset in ("all", "monotone", "reordered"):
                r = results.get(subset)
                cells.append("—" if r is None else
                             f"{r.delta:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}], p {r.p_value:.3f}")
            rows.append("| " + " | ".join(cells) + " |")
    if not rows:
        return []
    header = ["model", "CR-CTC", "seed", "BLEU − baseline, all",
              f"monotone ({counts.get('monotone', 0)})", f"reordered ({counts.get('reordered', 0)})"]
    return [f"Against {baseline} on {pair}, run by run ({split} BLEU difference, each model at its dev-tuned ST "
            f"penalty, same seed and CR-CTC setting; 95% interval of a paired bootstrap over {num_resamples} "
            f"resamples of the {split} sentences; p: share of resamples contradicting the sign):", "",
            "| " + " | ".join(header) + " |", "|" + "---|" * len(header), *rows, ""]


def _adaptive_row(model: str, cr: bool, runs: Sequence[RunScores], estimators: Sequence[str]) -> str:
    """One row of the adaptive table over the runs that have every estimator's decode."""
    runs = [r for r in runs if all(e in r.adaptive for e in estimators)]
    constant = [r.adaptive[estimators[0]][1] for r in runs]
    cells = [model, "yes" if cr else "no", " ".join(str(r.seed) for r in runs), mean_std(constant)]
    for estimator in estimators:
        cells += [mean_std([r.adaptive[estimator][0] for r in runs]),
                  mean_std([r.adaptive[estimator][0] - r.adaptive[estimator][1] for r in runs], signed=True)]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hent_srt.study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp-root", type=Path, required=True, help="the study's experiment root (see above)")
    parser.add_argument("--pairs", required=True, help='space-separated pairs, e.g. "es-en zh-en"')
    parser.add_argument("--seeds", required=True, help='space-separated training seeds, e.g. "1 2 3"')
    parser.add_argument("--models", required=True, help='space-separated stage-4 conf names, e.g. "nt_shared hier1"')
    parser.add_argument("--cr", default="true false", help='"true", "false" or both: with / without CR-CTC')
    parser.add_argument("--pretrain", default="asr_pretrain", help="stage-3 conf name (default asr_pretrain)")
    parser.add_argument("--asr-only", default="",
                        help="conf name of the ASR-only stage-4 reference, e.g. asr_only (default: none)")
    parser.add_argument("--adaptive", default="", help='adaptive-penalty estimators to table, e.g. "asr_length st_ctc"')
    parser.add_argument("--asr-tuned", action="store_true",
                        help="read the decodes whose ASR blank penalty was tuned on dev (--blank-penalty-asr tune) "
                             "and table the chosen penalty; default: those at a fixed ASR penalty")
    parser.add_argument("--data-root", type=Path,
                        help="run.sh's data directory (<work-dir>/data): also table the paired bootstrap of each "
                             "model against the first of --models, run by run, split by reordering")
    parser.add_argument("--test-splits", default="test",
                        help='space-separated test splits to table, e.g. "test test2" with a second test set '
                             "(default test)")
    parser.add_argument("--out", type=Path, required=True, help="markdown file to write (e.g. STUDY.md)")
    parser.add_argument("--command", default="", help="the study command line, quoted in the file")
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split()]
        crs = [{"true": True, "false": False}[c] for c in args.cr.split()]
    except (ValueError, KeyError):
        print(f"hent_srt.study: --seeds must hold integers and --cr true/false, got {args.seeds!r}, {args.cr!r}",
              file=sys.stderr)
        return 2
    try:
        text, missing = format_study(args.exp_root, args.pairs.split(), seeds, args.models.split(), crs,
                                     args.pretrain, args.command, args.adaptive.split(), args.asr_only,
                                     args.asr_tuned, args.data_root, args.test_splits.split())
    except ValueError as err:
        print(f"hent_srt.study: {err}", file=sys.stderr)
        return 2
    write_text_atomic(args.out, text)
    print(f"wrote {args.out}" + (f" ({len(missing)} runs missing)" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
