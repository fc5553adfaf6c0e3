#!/usr/bin/env bash
# Stages 1-6 of every recipe (DESIGN.md §1), sourced by egs/<corpus>/run.sh after its own stage 0.
# The recipe sets, before sourcing (defaults in brackets):
#   stage, stop_stage          the stage range (scripts/parse_options.sh)
#   manifest_prefix            stage-0 output prefix: PREFIX_{recordings,supervisions}_SPLIT.jsonl.gz, or PREFIX_cuts_SPLIT.jsonl.gz
#   train_split dev_split      split names; test_splits: space-separated splits to decode
#   data exp results           feature/BPE directory, experiment directory, RESULTS.md to write
#   src_vocab_size tgt_vocab_size, speed_perturb (true|false), num_jobs, ngpu (torchrun when > 1)
#   pretrain_model             conf name (and exp subdirectory) of the stage-3 ASR pretraining [asr_pretrain]
#   finetune_models            conf names trained in stage 4 from the stage-3 model [hent_srt]
#   decode_streaming           stage 5 decodes chunk by chunk (causal confs; greedy, with latency) [false]
#   decode_method beam blank_penalties epoch avg   (epoch 0: the last epoch; avg 0: epoch - 1)
#   src_normalizer tgt_normalizer unit             scoring conventions (see `hent-srt score --help`);
#                              a test split may override them: src_normalizer_SPLIT, tgt_normalizer_SPLIT, unit_SPLIT
#   train_args                 extra `hent-srt train` arguments, e.g. "--set train.num_epochs=1"
#   export_streaming verify_num   stage 6: also export model-streaming.pt and the streaming sherpa-onnx models (causal
#                              models) [false]; utterances of the first test split on which the exports (sherpa-onnx
#                              from the audio) must reproduce PyTorch's greedy hypotheses [20]
# Every stage skips work whose outputs exist; training stages resume from their last checkpoint.

log() { echo "$(date '+%H:%M:%S') [$(basename "$(pwd)")] $*"; }

# shellcheck disable=SC2206  # --train-args is split on spaces on purpose
extra_train_args=(${train_args:-})
if [ "${ngpu:-1}" -gt 1 ]; then
  train_cmd=(torchrun --nproc-per-node "$ngpu" -m hent_srt.cli train)
else
  train_cmd=(hent-srt train)
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: fbank"
  for split in $train_split $dev_split $test_splits; do
    if [ -f "${manifest_prefix}_cuts_${split}.jsonl.gz" ]; then
      input=(--cuts-in "${manifest_prefix}_cuts_${split}.jsonl.gz")
    else
      input=(--recordings "${manifest_prefix}_recordings_${split}.jsonl.gz"
             --supervisions "${manifest_prefix}_supervisions_${split}.jsonl.gz")
    fi
    perturb=()
    if [ "$split" = "$train_split" ] && [ "${speed_perturb:-false}" = true ]; then perturb=(--speed-perturb); fi
    hent-srt features "${input[@]}" --out-dir "$data/fbank" --split "$split" --num-jobs "${num_jobs:-1}" \
      ${perturb[@]+"${perturb[@]}"}
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: sentencepiece models"
  hent-srt bpe --cuts "$data/fbank/cuts_${train_split}.jsonl.gz" --side source --vocab-size "$src_vocab_size" \
    --out-dir "$data/bpe_src"
  hent-srt bpe --cuts "$data/fbank/cuts_${train_split}.jsonl.gz" --side target --vocab-size "$tgt_vocab_size" \
    --out-dir "$data/bpe_tgt"
fi

vocab_size() { if [ -f "$1/tokens.txt" ]; then wc -l < "$1/tokens.txt"; else echo 2; fi; }
data_args=(
  --set "model.asr_vocab_size=$(vocab_size "$data/bpe_src")"
  --set "model.st_vocab_size=$(vocab_size "$data/bpe_tgt")"
  --set "data.train_cuts=$data/fbank/cuts_${train_split}.jsonl.gz"
  --set "data.valid_cuts=$data/fbank/cuts_${dev_split}.jsonl.gz"
  --set "data.src_bpe_model=$data/bpe_src/bpe.model"
  --set "data.tgt_bpe_model=$data/bpe_tgt/bpe.model"
)
last_epoch() { find "$1" -maxdepth 1 -name 'epoch-*.pt' 2>/dev/null | sed 's/.*epoch-\([0-9]*\)\.pt/\1/' | sort -n | tail -1; }

pretrain=${pretrain_model:-asr_pretrain}
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "stage 3: ASR pretraining ($pretrain)"
  "${train_cmd[@]}" --config "conf/$pretrain.yaml" --exp-dir "$exp/$pretrain" --resume "${data_args[@]}" \
    ${extra_train_args[@]+"${extra_train_args[@]}"}
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  init_epoch=$(last_epoch "$exp/$pretrain")
  if [ -z "$init_epoch" ]; then echo "no stage-3 checkpoint in $exp/$pretrain: run stage 3" >&2; exit 2; fi
  for model in ${finetune_models:-hent_srt}; do
    log "stage 4: multitask ASR + ST fine-tuning of $model from $exp/$pretrain/epoch-$init_epoch.pt"
    "${train_cmd[@]}" --config "conf/$model.yaml" --exp-dir "$exp/$model" --resume \
      --init-from "$exp/$pretrain/epoch-$init_epoch.pt" "${data_args[@]}" \
      ${extra_train_args[@]+"${extra_train_args[@]}"}
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  for model in ${finetune_models:-hent_srt}; do
    dir=$exp/$model
    dec_epoch=${epoch:-0}
    [ "$dec_epoch" -gt 0 ] || dec_epoch=$(last_epoch "$dir")
    if [ -z "$dec_epoch" ]; then echo "no checkpoint in $dir: run stage 4" >&2; exit 2; fi
    dec_avg=${avg:-0}
    [ "$dec_avg" -gt 0 ] || dec_avg=$(( dec_epoch > 1 ? dec_epoch - 1 : 1 ))
    log "stage 5: $model: average (epoch $dec_epoch, avg $dec_avg), decode, score"
    if [ "$dec_epoch" -gt "$dec_avg" ]; then
      hent-srt average --exp-dir "$dir" --epoch "$dec_epoch" --avg "$dec_avg" --use-averaged-model --out "$dir/averaged.pt"
    else
      hent-srt average --exp-dir "$dir" --epoch "$dec_epoch" --avg "$dec_avg" --out "$dir/averaged.pt"
    fi
    search=(--method "$decode_method" --beam "${beam:-4}")
    if [ "${decode_streaming:-false}" = true ]; then search=(--streaming); fi
    for split in $test_splits; do
      src_norm_var=src_normalizer_$split tgt_norm_var=tgt_normalizer_$split unit_var=unit_$split
      hent-srt decode --exp-dir "$dir" --checkpoint "$dir/averaged.pt" --cuts "$data/fbank/cuts_${split}.jsonl.gz" \
        "${search[@]}" --blank-penalty "$blank_penalties" \
        --src-normalizer "${!src_norm_var:-${src_normalizer:-none}}" \
        --tgt-normalizer "${!tgt_norm_var:-${tgt_normalizer:-none}}" --unit "${!unit_var:-${unit:-word}}" \
        --results-file "$results" --results-name "$model ($(basename "$(pwd)"), $split)" \
        --results-comment "epoch $dec_epoch, avg $dec_avg"
    done
  done
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  first_test_split=${test_splits%% *}
  streaming_args=()
  if [ "${export_streaming:-false}" = true ]; then streaming_args=(--streaming); fi
  for model in ${finetune_models:-hent_srt}; do
    log "stage 6: export $model, check it on the first ${verify_num:-20} utterances of $first_test_split"
    hent-srt export --exp-dir "$exp/$model" --checkpoint "$exp/$model/averaged.pt" --out-dir "$exp/$model/export" \
      --torchscript --onnx --sherpa-onnx ${streaming_args[@]+"${streaming_args[@]}"} \
      --verify-cuts "$data/fbank/cuts_${first_test_split}.jsonl.gz" --verify-num "${verify_num:-20}"
  done
fi
