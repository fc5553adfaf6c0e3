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
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=6
pair=es-en
num_train=3000
num_dev=100
num_test=200
seed=1
num_jobs=2
src_vocab_size=200
tgt_vocab_size=200
compare_shared=false
streaming=false
musan=true
verify_num=20
blank_penalties=0,0.5,1,1.5,2
work_dir=.
train_args=
. ../../scripts/parse_options.sh

data=$work_dir/data/$pair
exp=$work_dir/exp/$pair
results=$work_dir/RESULTS.md
manifest_prefix=$data/manifests/$pair
train_split=train
dev_split=dev
test_splits=test
speed_perturb=false
ngpu=1
decode_method=greedy
finetune_models=hent_srt
pretrain_model=asr_pretrain
decode_streaming=false
export_streaming=false
if [ "$compare_shared" = true ]; then finetune_models="hent_srt nt_shared"; fi
case "$musan" in
  true) musan_dir=$data/noise ;;
  false) musan_dir=none ;;
  *) echo "$0: --musan must be true or false, got '$musan'" >&2; exit 2 ;;
esac
if [ "$streaming" = true ]; then
  if [ "$compare_shared" = true ]; then echo "$0: --streaming true has no NT-Shared twin; drop --compare-shared" >&2; exit 2; fi
  pretrain_model=asr_pretrain_streaming finetune_models=hent_srt_streaming decode_streaming=true export_streaming=true
fi

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && ! [ -f "${manifest_prefix}_cuts_train.jsonl.gz" ]; then
  echo "$(date '+%H:%M:%S') [mini] stage 0: synthetic $pair corpus ($num_train/$num_dev/$num_test utterances)"
  hent-srt synth --pair "$pair" --out-dir "$data/manifests" --num-train "$num_train" --num-dev "$num_dev" \
    --num-test "$num_test" --seed "$seed" --num-jobs "$num_jobs"
fi

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ] && [ "$musan_dir" != none ] && ! [ -d "$musan_dir" ]; then
  echo "$(date '+%H:%M:%S') [mini] stage 0: generated noise set in MUSAN's layout ($musan_dir)"
  hent-srt prepare synth-noise --out-dir "$musan_dir" --speech-cuts "${manifest_prefix}_cuts_train.jsonl.gz"
fi

. ../../scripts/recipe_stages.sh
