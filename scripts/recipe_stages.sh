#!/usr/bin/env bash
# Stages 1-6 of every recipe (docs/architecture.md, "Recipe stages"), sourced by egs/<corpus>/run.sh after its own stage 0.
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
#   decode_threads             torch's CPU threads of stage 5's decodes (`hent-srt decode --num-threads`; 0: torch's
#                              default); the real-time factor in each summary names the count [0]
#   blank_penalty_asr          ASR blank penalty of stage 5's decodes (empty: the conf's decode.blank_penalty_asr);
#                              "tune": each decode first chooses it on dev_split (the lowest dev WER/CER over
#                              blank_penalty_asr_grid, `hent-srt decode --tune-blank-penalty-asr-on`) []
#   blank_penalty_asr_grid     the ASR penalties that "tune" tries, a comma list [decode's default, 0,0.5,...,3]
#   adaptive_estimators        stage 5 also decodes each test split other than dev_split with the adaptive ST blank
#                              penalty, tuned on dev_split, once per estimator ("asr_length st_ctc"), into
#                              EXP/MODEL/decode/adaptive-ESTIMATOR/, its tuned parameters in
#                              EXP/MODEL/adaptive-ESTIMATOR[-asrbpP|-asrbp-tuned].json (one per ASR blank penalty
#                              setting; offline decoding only; test_splits must hold a split other than dev_split) [none]
#   results_label              RESULTS.md section names: "MODEL (LABEL, SPLIT)" [the recipe directory's name]
#   src_normalizer tgt_normalizer unit             scoring conventions (see `hent-srt score --help`);
#                              a test split may override them: src_normalizer_SPLIT, tgt_normalizer_SPLIT, unit_SPLIT
#   train_args                 extra `hent-srt train` arguments, e.g. "--set train.num_epochs=1"
#   musan_dir                  a MUSAN-layout corpus of noise and music: stage 1 prepares it (`hent-srt prepare musan`,
#                              manifest beside stage 0's) and computes its fbank, stages 3-4 mix it into training;
#                              "none" trains without noise; empty (the LDC recipes' default) is an error [none]
#   export_streaming verify_num   stage 6: also export model-streaming.pt and the streaming sherpa-onnx models (causal
#                              models) [false]; utterances of the first test split on which the exports (sherpa-onnx
#                              from the audio) must reproduce PyTorch's greedy hypotheses [20]
# Stages 0-2 skip work whose outputs exist; training stages resume from their last checkpoint; stages 5 and 6 run
# again each time (so a changed --blank-penalties, --epoch or estimator takes effect).
# The settings are checked first, and each stage checks that its inputs exist (naming the stage that makes them);
# a failed check exits 2 with a message.

log() { echo "$(date '+%H:%M:%S') [$(basename "$(pwd)")] $*"; }
die() { echo "$0: $*" >&2; exit 2; }
require_int() {  # require_int MIN NAME...: each variable that is set holds an integer >= MIN
  local min=$1 name; shift
  for name in "$@"; do
    [ -n "${!name+set}" ] || continue
    [[ "${!name}" =~ ^-?[0-9]+$ ]] || die "--${name//_/-} takes an integer, got '${!name}'"
    [ "${!name}" -ge "$min" ] || die "--${name//_/-} must be at least $min, got ${!name}"
  done
}
require_bool() {  # require_bool NAME...: each variable that is set holds true or false
  local name
  for name in "$@"; do
    [ -z "${!name+set}" ] || [ "${!name}" = true ] || [ "${!name}" = false ] \
      || die "--${name//_/-} takes true or false, got '${!name}'"
  done
}
require_input() {  # require_input STAGE MAKER PATH...: stage STAGE reads each PATH, which stage MAKER writes
  local stage_=$1 maker=$2 path; shift 2
  for path in "$@"; do
    [ -e "$path" ] || die "stage $stage_ needs $path, which stage $maker makes: run stage $maker first" \
      "(--stage $maker), or check --data / --exp if it was made elsewhere"
  done
}
require_int 0 stage stop_stage epoch avg decode_threads
require_int 1 ngpu num_jobs beam verify_num src_vocab_size tgt_vocab_size
require_bool speed_perturb decode_streaming export_streaming
for estimator in ${adaptive_estimators:-}; do
  case "$estimator" in
    asr_length) ;;
    st_ctc) [ "${decode_streaming:-false}" = false ] \
              || die "--adaptive-estimators st_ctc decodes offline; use asr_length with streaming decoding" ;;
    *) die "--adaptive-estimators takes asr_length and/or st_ctc, got '$estimator'" ;;
  esac
done
number_re='-?[0-9]+(\.[0-9]+)?'
if [ -n "${blank_penalty_asr:-}" ] && [ "$blank_penalty_asr" != tune ] \
    && ! [[ "$blank_penalty_asr" =~ ^$number_re$ ]]; then
  die "--blank-penalty-asr takes a number, e.g. 1.0, or 'tune' (chosen on $dev_split), got '$blank_penalty_asr'"
fi
if [ -n "${blank_penalty_asr_grid:-}" ] && [ "${blank_penalty_asr:-}" != tune ]; then
  die "--blank-penalty-asr-grid is the grid of --blank-penalty-asr tune; add --blank-penalty-asr tune or drop it"
fi
if [ -n "${blank_penalty_asr_grid:-}" ] && ! [[ "$blank_penalty_asr_grid" =~ ^$number_re(,$number_re)*$ ]]; then
  die "--blank-penalty-asr-grid takes a comma list of numbers, e.g. 0,0.5,1, got '$blank_penalty_asr_grid'"
fi
if [ -n "${test_splits+set}" ] && [ -z "${test_splits// /}" ]; then
  die "--test-splits is empty: give the splits that stage 5 decodes, e.g. --test-splits test"
fi
held_out_splits=$(for split in ${test_splits:-}; do [ "$split" = "$dev_split" ] || echo "$split"; done)
if [ -n "$(echo ${adaptive_estimators:-})" ] && [ -z "$held_out_splits" ]; then
  die "--adaptive-estimators decodes the test splits other than $dev_split (the adaptive penalty is tuned on it)," \
    "and --test-splits '${test_splits:-}' has none: add a held-out split or leave --adaptive-estimators empty"
fi
require_conf() {  # require_conf STAGE NAME...: stage STAGE trains conf/NAME.yaml of each NAME
  local stage_=$1 name; shift
  for name in "$@"; do
    [ -f "conf/$name.yaml" ] || die "stage $stage_ trains conf/$name.yaml, which does not exist: choose one of" \
      "$(cd conf 2>/dev/null && ls -- *.yaml 2>/dev/null | sed 's/\.yaml$//' | tr '\n' ' ')"
  done
}
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then require_conf 3 "${pretrain_model:-asr_pretrain}"; fi
# shellcheck disable=SC2086  # the model names are split on spaces on purpose
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then require_conf 4 ${finetune_models:-hent_srt}; fi

# shellcheck disable=SC2206  # --train-args is split on spaces on purpose
extra_train_args=(${train_args:-})
if [ "${ngpu:-1}" -gt 1 ]; then
  train_cmd=(torchrun --nproc-per-node "$ngpu" -m hent_srt.cli train)
else
  train_cmd=(hent-srt train)
fi

musan_dir=${musan_dir-none}
musan_cuts=
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 1 ] && [ -z "$musan_dir" ]; then
  echo "$0: the published recipe mixes MUSAN noise and music into training (stages 1, 3 and 4): pass" \
    "--musan-dir DIR (the MUSAN corpus, openslr.org/17), or --musan-dir none to train without noise" >&2
  exit 2
fi
if [ "$musan_dir" != none ]; then musan_cuts=$data/fbank/cuts_musan.jsonl.gz; fi
require_musan_fbank() {
  if [ -n "$musan_cuts" ] && ! [ -f "$musan_cuts" ]; then
    echo "$0: stage $1 mixes noise (--musan-dir $musan_dir) but $musan_cuts is missing: run stage 1 with" \
      "--musan-dir $musan_dir, or pass --musan-dir none to train without noise" >&2
    exit 2
  fi
}

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "stage 1: fbank"
  for split in $train_split $dev_split $test_splits; do
    if [ -f "${manifest_prefix}_cuts_${split}.jsonl.gz" ]; then
      input=(--cuts-in "${manifest_prefix}_cuts_${split}.jsonl.gz")
    else
      [ -f "${manifest_prefix}_recordings_${split}.jsonl.gz" ] || [ -f "${manifest_prefix}_supervisions_${split}.jsonl.gz" ] \
        || die "stage 1 needs ${manifest_prefix}_cuts_${split}.jsonl.gz (or the recordings and supervisions" \
          "manifests of split $split), which stage 0 makes: run stage 0 first (--stage 0)"
      require_input 1 0 "${manifest_prefix}_recordings_${split}.jsonl.gz" "${manifest_prefix}_supervisions_${split}.jsonl.gz"
      input=(--recordings "${manifest_prefix}_recordings_${split}.jsonl.gz"
             --supervisions "${manifest_prefix}_supervisions_${split}.jsonl.gz")
    fi
    train_opts=()  # the training manifest is read lazily: written in a random order
    if [ "$split" = "$train_split" ]; then train_opts=(--shuffle); fi
    if [ "$split" = "$train_split" ] && [ "${speed_perturb:-false}" = true ]; then train_opts+=(--speed-perturb); fi
    hent-srt features "${input[@]}" --out-dir "$data/fbank" --split "$split" --num-jobs "${num_jobs:-1}" \
      ${train_opts[@]+"${train_opts[@]}"}
  done
  if [ -n "$musan_cuts" ]; then
    musan_manifest=$(dirname "$manifest_prefix")/musan_cuts.jsonl.gz
    if ! [ -f "$musan_manifest" ]; then
      log "stage 1: MUSAN manifest from $musan_dir"
      hent-srt prepare musan --corpus-dir "$musan_dir" --out-dir "$(dirname "$musan_manifest")"
    fi
    hent-srt features --cuts-in "$musan_manifest" --out-dir "$data/fbank" --split musan --num-jobs "${num_jobs:-1}"
  fi
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "stage 2: sentencepiece models"
  require_input 2 1 "$data/fbank/cuts_${train_split}.jsonl.gz"
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
  --set "data.musan_cuts=$musan_cuts"
)
training_inputs() {  # training_inputs STAGE: the features and BPE models stages 3 and 4 read
  require_input "$1" 1 "$data/fbank/cuts_${train_split}.jsonl.gz" "$data/fbank/cuts_${dev_split}.jsonl.gz"
  require_input "$1" 2 "$data/bpe_src/bpe.model" "$data/bpe_src/tokens.txt" "$data/bpe_tgt/bpe.model" \
    "$data/bpe_tgt/tokens.txt"
}
last_epoch() { [ -d "$1" ] || return 0; find "$1" -maxdepth 1 -name 'epoch-*.pt' 2>/dev/null | sed 's/.*epoch-\([0-9]*\)\.pt/\1/' | sort -n | tail -1; }

pretrain=${pretrain_model:-asr_pretrain}
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "stage 3: ASR pretraining ($pretrain)"
  training_inputs 3
  require_musan_fbank 3
  "${train_cmd[@]}" --config "conf/$pretrain.yaml" --exp-dir "$exp/$pretrain" --resume "${data_args[@]}" \
    ${extra_train_args[@]+"${extra_train_args[@]}"}
fi

# Stage 4 starts from the stage-3 model chosen by init_checkpoint [best]: best (best-valid-loss.pt, the epoch
# with the lowest validation loss, as published), last (the last epoch-N.pt) or averaged (stage 3's averaged
# model over its last epochs, made as stage 5 makes it: avg epochs, at most N - 1, with --use-averaged-model).
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  training_inputs 4
  init_epoch=$(last_epoch "$exp/$pretrain")
  if [ -z "$init_epoch" ]; then die "stage 4 needs a stage-3 checkpoint (epoch-N.pt) in $exp/$pretrain: run stage 3 first (--stage 3)"; fi
  require_musan_fbank 4
  case "${init_checkpoint:-best}" in
    best)
      init_from=$exp/$pretrain/best-valid-loss.pt
      if ! [ -f "$init_from" ]; then
        die "no $init_from (stage 3 ran without validation data?): rerun stage 3 with a dev set, or pass" \
          "--init-checkpoint last"
      fi ;;
    last)
      init_from=$exp/$pretrain/epoch-$init_epoch.pt ;;
    averaged)
      init_avg=${avg:-0}
      if [ "$init_avg" -le 0 ] || [ "$init_avg" -ge "$init_epoch" ]; then init_avg=$(( init_epoch - 1 )); fi
      init_from=$exp/$pretrain/averaged-$init_epoch-$init_avg.pt
      if [ "$init_avg" -ge 1 ]; then
        avg_args=(--epoch "$init_epoch" --avg "$init_avg" --use-averaged-model)
      else
        avg_args=(--epoch "$init_epoch" --avg 1)
      fi
      [ -f "$init_from" ] || hent-srt average --exp-dir "$exp/$pretrain" "${avg_args[@]}" --out "$init_from" ;;
    *)
      die "--init-checkpoint ${init_checkpoint}: choose best, last or averaged" ;;
  esac
  for model in ${finetune_models:-hent_srt}; do
    log "stage 4: multitask ASR + ST fine-tuning of $model from $init_from"
    "${train_cmd[@]}" --config "conf/$model.yaml" --exp-dir "$exp/$model" --resume \
      --init-from "$init_from" "${data_args[@]}" \
      ${extra_train_args[@]+"${extra_train_args[@]}"}
  done
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  for model in ${finetune_models:-hent_srt}; do
    dir=$exp/$model
    dec_epoch=${epoch:-0}
    [ "$dec_epoch" -gt 0 ] || dec_epoch=$(last_epoch "$dir")
    if [ -z "$dec_epoch" ]; then die "stage 5 needs a stage-4 checkpoint (epoch-N.pt) in $dir: run stage 4 first (--stage 4)"; fi
    if ! [ -f "$dir/epoch-$dec_epoch.pt" ]; then
      die "stage 5: no $dir/epoch-$dec_epoch.pt (the last epoch there is $(last_epoch "$dir")); pass --epoch" \
        "$(last_epoch "$dir") (or --epoch 0 for the last one), or train longer in stage 4"
    fi
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
    search+=(--num-threads "${decode_threads:-0}")
    params_suffix=  # the adaptive parameters of each ASR blank penalty setting keep their own file
    case "${blank_penalty_asr:-}" in
      "") ;;
      tune)
        params_suffix=-asrbp-tuned
        require_input 5 1 "$data/fbank/cuts_${dev_split}.jsonl.gz"
        search+=(--tune-blank-penalty-asr-on "$data/fbank/cuts_${dev_split}.jsonl.gz")
        if [ -n "${blank_penalty_asr_grid:-}" ]; then search+=(--blank-penalty-asr-grid "$blank_penalty_asr_grid"); fi ;;
      *) search+=(--blank-penalty-asr "$blank_penalty_asr"); params_suffix=-asrbp$blank_penalty_asr ;;
    esac
    for split in $test_splits; do
      require_input 5 1 "$data/fbank/cuts_${split}.jsonl.gz"
      src_norm_var=src_normalizer_$split tgt_norm_var=tgt_normalizer_$split unit_var=unit_$split
      hent-srt decode --exp-dir "$dir" --checkpoint "$dir/averaged.pt" --cuts "$data/fbank/cuts_${split}.jsonl.gz" \
        "${search[@]}" --blank-penalty "$blank_penalties" \
        --src-normalizer "${!src_norm_var:-${src_normalizer:-none}}" \
        --tgt-normalizer "${!tgt_norm_var:-${tgt_normalizer:-none}}" --unit "${!unit_var:-${unit:-word}}" \
        --results-file "$results" --results-name "$model (${results_label:-$(basename "$(pwd)")}, $split)" \
        --results-comment "epoch $dec_epoch, avg $dec_avg"
    done
    for estimator in ${adaptive_estimators:-}; do
      for split in $test_splits; do
        [ "$split" != "$dev_split" ] || continue
        log "stage 5: $model: adaptive ST blank penalty ($estimator, tuned on $dev_split) on $split"
        src_norm_var=src_normalizer_$split tgt_norm_var=tgt_normalizer_$split unit_var=unit_$split
        hent-srt decode --exp-dir "$dir" --checkpoint "$dir/averaged.pt" --cuts "$data/fbank/cuts_${split}.jsonl.gz" \
          "${search[@]}" --blank-penalty adaptive --adaptive-estimator "$estimator" \
          --tune-adaptive-on "$data/fbank/cuts_${dev_split}.jsonl.gz" --adaptive-params "$dir/adaptive-$estimator$params_suffix.json" \
          --out-dir "$dir/decode/adaptive-$estimator" \
          --src-normalizer "${!src_norm_var:-${src_normalizer:-none}}" \
          --tgt-normalizer "${!tgt_norm_var:-${tgt_normalizer:-none}}" --unit "${!unit_var:-${unit:-word}}" \
          --results-file "$results" \
          --results-name "$model (${results_label:-$(basename "$(pwd)")}, $split, adaptive $estimator)" \
          --results-comment "epoch $dec_epoch, avg $dec_avg"
      done
    done
  done
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  first_test_split=${test_splits%% *}
  streaming_args=()
  if [ "${export_streaming:-false}" = true ]; then streaming_args=(--streaming); fi
  for model in ${finetune_models:-hent_srt}; do
    require_input 6 5 "$exp/$model/averaged.pt"
    require_input 6 1 "$data/fbank/cuts_${first_test_split}.jsonl.gz"
    log "stage 6: export $model, check it on the first ${verify_num:-20} utterances of $first_test_split"
    hent-srt export --exp-dir "$exp/$model" --checkpoint "$exp/$model/averaged.pt" --out-dir "$exp/$model/export" \
      --torchscript --onnx --sherpa-onnx ${streaming_args[@]+"${streaming_args[@]}"} \
      --verify-cuts "$data/fbank/cuts_${first_test_split}.jsonl.gz" --verify-num "${verify_num:-20}"
  done
fi
