#!/usr/bin/env bash
# The egs/mini study: NT-Shared, Hier1 and Hier2 (conf/nt_shared.yaml, conf/hier1.yaml, conf/hier2.yaml: their
# comments give the definitions), each without CR-CTC (as the demo) and with it (the conf/*_cr.yaml twins, stage 3
# conf/asr_pretrain_cr.yaml: the same 30 s of distinct audio per update, about 1.5x the computation), on each pair,
# for several training seeds; then STUDY.md with mean ± std over the seeds (hent_srt/study.py reads the decode
# summaries).
#
# Per pair, stages 0-2 of run.sh once (the corpus of --corpus-seed, shared by every run); per seed and CR-CTC
# setting, run.sh stages 3-5 (stage-3 model, the stage-4 models initialised from it, decoded on dev and test with
# the --blank-penalties sweep, then the test set with the adaptive ST blank penalty tuned on dev, once per estimator
# of --adaptive) and stage 5 for the stage-3 model (the ASR degradation needs its WER); with --asr-only (default
# asr_only, "" for none) also the ASR-only reference, stages 4-5 of conf/asr_only.yaml (conf/asr_only_cr.yaml): stage 4
# from the same stage-3 model without the ST task, whose WER the joint models' is compared with. A model whose decode
# summaries all exist is skipped (neither trained nor decoded again; delete its decode/ to redo it), so a later call
# with more models or seeds runs only what is missing; an interrupted run resumes (run.sh's stages resume from
# checkpoints). --blank-penalty-asr tune has every decode choose its ASR blank penalty on dev (run.sh's option, over
# --blank-penalty-asr-grid), and the tables read those decodes (with each run's chosen penalty); a run decoded only
# without it is decoded again (its training stages find their last checkpoint and train no further).
# --num-threads (default 1) is each training's train.num_threads and each decode's thread count: on CPU a run repeats
# bit for bit only at the same thread count, so the study fixes it (0: torch's default, which depends on the
# machine's cores), and two studies side by side on two cores then do not compete for them.
# --num-test2 N (default 0: none) adds a second test set of N utterances per pair (run.sh --num-test2: drawn after
# the corpus's other splits, disjoint from them; made beside a corpus that exists already), decodes every run on it
# as on test, and STUDY.md repeats the tables for it: with 35 monotone sentences in the 200 of test, a larger set
# says more about the monotone ones. Runs decoded before without it are decoded again (not trained again).
#
#   bash study.sh                                        # the full study (hours on CPU)
#   bash study.sh --pairs zh-en --seeds "1 2 3" --models "nt_shared hier1" --cr true
#   bash study.sh --pairs es-en --num-train 200 --train-args "--set train.num_epochs=1" --out /tmp/STUDY.md  # smoke
set -euo pipefail
cd "$(dirname "$0")"
pairs="es-en ar-en zh-en"
seeds="1 2 3"
models="nt_shared hier1 hier2"
cr="true false"
corpus_seed=1
num_train=3000
num_dev=100
num_test=200
num_test2=0
num_jobs=2
blank_penalties=0,0.5,1,1.5,2,2.5,3
adaptive="asr_length st_ctc"
asr_only=asr_only
blank_penalty_asr=
blank_penalty_asr_grid=
num_threads=1
train_args=
work_dir=exp/study
out=STUDY.md
command_line="bash egs/mini/study.sh$(printf ' %q' "$@")"
. ../../scripts/parse_options.sh

if [ "$num_threads" -lt 0 ]; then
  echo "$0: --num-threads must be at least 0 (0: torch's default), got $num_threads" >&2; exit 2
fi
for c in $cr; do
  if [ "$c" != true ] && [ "$c" != false ]; then echo "$0: --cr takes true and/or false, got '$c'" >&2; exit 2; fi
done
log() { echo "$(date '+%H:%M:%S') [study] $*"; }
has_summary() {  # has_summary DIR [SPLIT]: DIR holds a SPLIT (default test) summary of this study's ASR blank penalty
  local files  # setting (tuned or not)
  mapfile -t files < <(compgen -G "$1/summary-${2:-test}-*.json")
  [ ${#files[@]} -gt 0 ] || return 1
  if [ "$blank_penalty_asr" = tune ]; then
    [ -n "$(grep -l '"blank_penalty_tuning"' "${files[@]}")" ]
  else
    [ -n "$(grep -L '"blank_penalty_tuning"' "${files[@]}")" ]
  fi
}
decoded() {  # decoded DIR ESTIMATOR...: DIR/decode, and DIR/decode/adaptive-ESTIMATOR of each, hold a summary of
  local dir=$1 estimator split; shift  # every test split
  for split in $test_splits; do
    has_summary "$dir/decode" "$split" || return 1
    for estimator in "$@"; do has_summary "$dir/decode/adaptive-$estimator" "$split" || return 1; done
  done
}
test_splits=test; [ "$num_test2" -eq 0 ] || test_splits="test test2"
common=(--work-dir "$work_dir" --num-train "$num_train" --num-dev "$num_dev" --num-test "$num_test" --num-test2 "$num_test2"
        --seed "$corpus_seed" --num-jobs "$num_jobs" --blank-penalties "$blank_penalties" --test-splits "dev test"
        --blank-penalty-asr "$blank_penalty_asr" --blank-penalty-asr-grid "$blank_penalty_asr_grid"
        --decode-threads "$num_threads")

for pair in $pairs; do
  log "$pair: corpus, features, BPE"
  bash run.sh --pair "$pair" "${common[@]}" --stage 0 --stop-stage 2
  for seed in $seeds; do
    for c in $cr; do
      suffix=; [ "$c" = false ] || suffix=_cr
      exp=$work_dir/exp/$pair/seed$seed
      pretrain=asr_pretrain$suffix
      finetune=; for m in $models; do finetune="$finetune $m$suffix"; done
      reference=; [ -z "$asr_only" ] || reference=$asr_only$suffix
      todo=; for m in $finetune; do decoded "$exp/$m" $adaptive || todo="$todo $m"; done
      pretrain_todo=; decoded "$exp/$pretrain" || pretrain_todo=$pretrain
      reference_todo=; [ -z "$reference" ] || decoded "$exp/$reference" || reference_todo=$reference
      if [ -z "$todo$pretrain_todo$reference_todo" ]; then
        log "$pair seed $seed CR-CTC $c: decoded already, skipped"; continue
      fi
      log "$pair seed $seed CR-CTC $c: to train and/or decode: $pretrain_todo$todo $reference_todo"
      run=(bash run.sh --pair "$pair" "${common[@]}" --exp-dir "$exp" --results "$exp/RESULTS.md"
           --pretrain-model "$pretrain" --train-args "--set train.seed=$seed --set train.num_threads=$num_threads $train_args")
      if [ -n "$pretrain_todo" ]; then "${run[@]}" --stage 3 --stop-stage 3; fi
      if [ -n "$todo" ]; then
        "${run[@]}" --stage 4 --stop-stage 5 --finetune-models "${todo# }" --adaptive-estimators "$adaptive"
      fi
      if [ -n "$pretrain_todo" ]; then "${run[@]}" --stage 5 --stop-stage 5 --finetune-models "$pretrain"; fi
      if [ -n "$reference_todo" ]; then "${run[@]}" --stage 4 --stop-stage 5 --finetune-models "$reference"; fi
    done
  done
done

# the interpreter of the hent-srt on PATH (the one run.sh used)
asr_tuned=(); [ "$blank_penalty_asr" != tune ] || asr_tuned=(--asr-tuned)
python=$(head -1 "$(command -v hent-srt)" | sed 's/^#!//')
"$python" -m hent_srt.study --exp-root "$work_dir/exp" --pairs "$pairs" --seeds "$seeds" --models "$models" --cr "$cr" \
  --adaptive "$adaptive" --asr-only "$asr_only" --data-root "$work_dir/data" --test-splits "$test_splits" --out "$out" --command "$command_line" ${asr_tuned[@]+"${asr_tuned[@]}"}
