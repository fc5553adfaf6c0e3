#!/usr/bin/env bash
# The embedded default recipe: a synthetic speech-translation corpus (eSpeak NG speech, reordered English
# translations) made on the fly, trained and decoded on CPU. Stages follow DESIGN.md §1:
#   0 synth corpus   1 fbank   2 BPE   3 ASR pretraining   4 ASR+ST fine-tuning   5 average, decode, RESULTS.md
# Every stage skips work whose outputs exist (training stages resume from their last checkpoint).
# --compare-shared true also fine-tunes the NT-Shared baseline from the same stage-3 model and decodes it
# the same way.
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=5
pair=es-en
num_train=3000
num_dev=100
num_test=200
seed=1
num_jobs=2
src_vocab_size=200
tgt_vocab_size=200
compare_shared=false
blank_penalties=0,0.5,1,1.5,2
. ../../scripts/parse_options.sh

data=data/$pair
exp=exp/$pair
log() { echo "$(date '+%H:%M:%S') [egs/mini] $*"; }

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "stage 0: synthetic $pair corpus ($num_train/$num_dev/$num_test utterances)"
  hent-srt synth --pair "$pair" --out-dir "$data/manifests" --num-train "$num_train" --num-dev "$num_dev" \
    --num-test "$num_test" --seed "$seed" --num-jobs "$num_jobs"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: fbank"
  for split in train dev test; do
    hent-srt features --cuts-in "$data/manifests/${pair}_cuts_${split}.jsonl.gz" --out-dir "$data/fbank" \
      --split "$split" --num-jobs "$num_jobs"
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: sentencepiece models"
  hent-srt bpe --cuts "$data/fbank/cuts_train.jsonl.gz" --side source --vocab-size "$src_vocab_size" \
    --out-dir "$data/bpe_src"
  hent-srt bpe --cuts "$data/fbank/cuts_train.jsonl.gz" --side target --vocab-size "$tgt_vocab_size" \
    --out-dir "$data/bpe_tgt"
fi

vocab_size() { if [ -f "$1/tokens.txt" ]; then wc -l < "$1/tokens.txt"; else echo 2; fi; }
data_args=(
  --set "model.asr_vocab_size=$(vocab_size "$data/bpe_src")"
  --set "model.st_vocab_size=$(vocab_size "$data/bpe_tgt")"
  --set "data.train_cuts=$data/fbank/cuts_train.jsonl.gz"
  --set "data.valid_cuts=$data/fbank/cuts_dev.jsonl.gz"
  --set "data.src_bpe_model=$data/bpe_src/bpe.model"
  --set "data.tgt_bpe_model=$data/bpe_tgt/bpe.model"
)

last_epoch() { ls "$1"/epoch-*.pt 2>/dev/null | sed 's/.*epoch-\([0-9]*\)\.pt/\1/' | sort -n | tail -1; }

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "stage 3: ASR pretraining"
  hent-srt train --config conf/asr_pretrain.yaml --exp-dir "$exp/asr_pretrain" --resume "${data_args[@]}"
fi

finetune() {  # $1: name, then extra arguments
  local name=$1; shift
  local init_epoch; init_epoch=$(last_epoch "$exp/asr_pretrain")
  [ -n "$init_epoch" ] || { echo "egs/mini: no stage-3 checkpoint in $exp/asr_pretrain; run stage 3" >&2; exit 2; }
  hent-srt train --config conf/hent_srt.yaml --exp-dir "$exp/$name" --resume \
    --init-from "$exp/asr_pretrain/epoch-$init_epoch.pt" "${data_args[@]}" "$@"
}

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  log "stage 4: multitask ASR + ST fine-tuning (hierarchical)"
  finetune hent_srt
  if [ "$compare_shared" = true ]; then
    log "stage 4: multitask fine-tuning (NT-Shared baseline)"
    finetune nt_shared --set model.encoder_type=shared
  fi
fi

decode_model() {  # $1: name, $2: title
  local dir=$exp/$1 epoch avg
  epoch=$(last_epoch "$dir")
  [ -n "$epoch" ] || { echo "egs/mini: no checkpoint in $dir; run stage 4" >&2; exit 2; }
  avg=$(( epoch > 1 ? epoch - 1 : 1 ))
  hent-srt average --exp-dir "$dir" --epoch "$epoch" --avg "$avg" --use-averaged-model --out "$dir/averaged.pt"
  hent-srt decode --exp-dir "$dir" --checkpoint "$dir/averaged.pt" --cuts "$data/fbank/cuts_test.jsonl.gz" \
    --method greedy --blank-penalty "$blank_penalties" --results-file RESULTS.md \
    --results-name "$2 ($pair)" --results-comment "epoch $epoch, avg $avg, averaged model, greedy"
}

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  log "stage 5: average, decode with a blank-penalty sweep, RESULTS.md"
  decode_model hent_srt "HENT-SRT tiny (hierarchical)"
  if [ "$compare_shared" = true ]; then
    decode_model nt_shared "NT-Shared tiny (baseline)"
  fi
  log "done: see egs/mini/RESULTS.md and $exp/*/decode/"
fi
