#!/usr/bin/env bash
# The embedded default recipe: a synthetic speech-translation corpus (eSpeak NG speech, reordered English
# translations) made on the fly, trained and decoded on CPU. Stages follow docs/architecture.md ("Recipe stages"):
#   0 synth corpus   1 fbank   2 BPE   3 ASR pretraining   4 ASR+ST fine-tuning   5 average, decode, RESULTS.md
#   6 export (TorchScript, ONNX), checked against PyTorch on the first test utterances
# Every stage skips work whose outputs exist (training stages resume from their last checkpoint).
# --compare-shared true also fine-tunes the NT-Shared baseline (conf/nt_shared.yaml) from the same stage-3
# model and decodes it the same way.
# --musan true (the default) mixes a generated noise set in MUSAN's layout (coloured noise, babble of other synthetic
# utterances; made in stage 0) into training, as the LDC recipes mix MUSAN; --musan false trains without noise.
# --streaming true trains the causal twins (conf/asr_pretrain_streaming.yaml, conf/hent_srt_streaming.yaml) on the
# same data, decodes them chunk by chunk (with latency) and also exports and checks model-streaming.pt.
# --pretrain-model NAME and --finetune-models "NAME ..." choose other confs for stages 3 and 4 (stage 5 decodes the
# stage-4 models; `--stage 5 --stop-stage 5 --finetune-models asr_pretrain` decodes the stage-3 model), --exp-dir
# and --results other places for the experiments and RESULTS.md, --test-splits the splits stage 5 decodes
# (egs/mini/study.sh uses these); --adaptive-estimators "asr_length st_ctc" also decodes the test splits with the
# adaptive ST blank penalty (tuned on dev) for each estimator; --blank-penalty-asr P decodes the ASR head with
# blank penalty P (default: the conf's, 0), --blank-penalty-asr tune with the one of --blank-penalty-asr-grid
# (default 0,0.5,...,3) that has the lowest dev WER/CER.
# --num-test2 N also makes a second test set of N utterances (split test2: drawn after the others and disjoint from
# them, added beside a corpus made earlier) and stage 5 decodes it with the test splits.
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=6
pair=es-en
num_train=3000
num_dev=100
num_test=200
num_test2=0
seed=1
num_jobs=2
src_vocab_size=200
tgt_vocab_size=200
compare_shared=false
streaming=false
musan=true
verify_num=20
blank_penalties=0,0.5,1,1.5,2
blank_penalty_asr=
blank_penalty_asr_grid=
work_dir=.
train_args=
pretrain_model=
finetune_models=
exp_dir=
results=
test_splits=test
adaptive_estimators=
decode_threads=0
. ../../scripts/parse_options.sh

# Scoring per pair: Mandarin transcripts have no spaces, so their ASR is scored on characters (CER) with the
# mandarin normaliser; Arabic with the Arabic WER normalisation (hamza/alef, ta marbuta, alef maqsura). RESULTS.md
# sections carry the pair, so one pair's rows never replace another's.
src_normalizer=none tgt_normalizer=none unit=word
case $pair in
  zh-en) src_normalizer=mandarin unit=char ;;
  ar-en) src_normalizer=arabic_wer ;;
esac
results_label="mini $pair"

data=$work_dir/data/$pair
exp=${exp_dir:-$work_dir/exp/$pair}
results=${results:-$work_dir/RESULTS.md}
manifest_prefix=$data/manifests/$pair
train_split=train
dev_split=dev
speed_perturb=false
ngpu=1
decode_method=greedy
decode_streaming=false
export_streaming=false
case "$musan" in
  true) musan_dir=$data/noise ;;
  false) musan_dir=none ;;
  *) echo "$0: --musan must be true or false, got '$musan'" >&2; exit 2 ;;
esac
if [ "$streaming" = true ]; then
  if [ "$compare_shared" = true ]; then echo "$0: --streaming true has no NT-Shared twin; drop --compare-shared" >&2; exit 2; fi
  if [ -n "$pretrain_model$finetune_models" ]; then
    echo "$0: --streaming true chooses its own confs; drop --pretrain-model / --finetune-models" >&2; exit 2
  fi
  pretrain_model=asr_pretrain_streaming finetune_models=hent_srt_streaming decode_streaming=true export_streaming=true
fi
pretrain_model=${pretrain_model:-asr_pretrain}
if [ -z "$finetune_models" ]; then
  finetune_models=hent_srt
  if [ "$compare_shared" = true ]; then finetune_models="hent_srt nt_shared"; fi
fi

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && ! [ -f "${manifest_prefix}_cuts_train.jsonl.gz" ]; then
  echo "$(date '+%H:%M:%S') [mini] stage 0: synthetic $pair corpus ($num_train/$num_dev/$num_test utterances)"
  hent-srt synth --pair "$pair" --out-dir "$data/manifests" --num-train "$num_train" --num-dev "$num_dev" \
    --num-test "$num_test" --seed "$seed" --num-jobs "$num_jobs"
fi

if [ "$num_test2" -gt 0 ]; then
  case " $test_splits " in *" test2 "*) ;; *) test_splits="$test_splits test2" ;; esac
fi
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && [ "$num_test2" -gt 0 ] && ! [ -f "${manifest_prefix}_cuts_test2.jsonl.gz" ]; then
  echo "$(date '+%H:%M:%S') [mini] stage 0: second test set of the synthetic $pair corpus ($num_test2 utterances)"
  hent-srt synth --pair "$pair" --out-dir "$data/manifests" --num-train "$num_train" --num-dev "$num_dev" \
    --num-test "$num_test" --num-test2 "$num_test2" --only-test2 --seed "$seed" --num-jobs "$num_jobs"
fi

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && [ "$musan_dir" != none ] && ! [ -d "$musan_dir" ]; then
  echo "$(date '+%H:%M:%S') [mini] stage 0: generated noise set in MUSAN's layout ($musan_dir)"
  hent-srt prepare synth-noise --out-dir "$musan_dir" --speech-cuts "${manifest_prefix}_cuts_train.jsonl.gz"
fi

. ../../scripts/recipe_stages.sh
