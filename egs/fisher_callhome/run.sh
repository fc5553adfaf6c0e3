#!/usr/bin/env bash
# Fisher and CALLHOME Spanish -> English (Post et al. 2013). See README.md for the data it needs.
#   ./run.sh --fisher-audio-dir /data/LDC2010S01 --fisher-transcript-dir /data/LDC2010T04 \
#            --callhome-audio-dir /data/LDC96S35 --callhome-transcript-dir /data/LDC96T17 \
#            --translation-dir /data/fisher-callhome-corpus \
#            --musan-dir /data/musan   # noise mixing as published; --musan-dir none trains without it
# Leave out the two callhome (or fisher) options to prepare one corpus only.
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=6
fisher_audio_dir=
fisher_transcript_dir=
callhome_audio_dir=
callhome_transcript_dir=
translation_dir=
manifest_dir=data/manifests
flac_dir=data/flac  # one-time FLAC copy of the SPHERE audio; pass --flac-dir "" to read the .sph files
test_splits="fisher_dev fisher_dev2 fisher_test"
. ../../scripts/recipe_defaults.sh
. ../../scripts/parse_options.sh

# Stage 0: corpus -> lhotse manifests (skipped when those of the given corpora exist).
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  splits=""
  [ -n "$fisher_audio_dir" ] && splits="$splits fisher_train fisher_dev fisher_dev2 fisher_test"
  [ -n "$callhome_audio_dir" ] && splits="$splits callhome_train callhome_devtest callhome_evltest"
  if [ -z "$splits" ] || [ -z "$translation_dir" ]; then
    echo "$0: stage 0 needs --translation-dir and the Fisher and/or CALLHOME directories; see README.md" >&2
    exit 2
  fi
  done_all=true
  for split in $splits; do
    [ -f "$manifest_dir/fisher_callhome_supervisions_$split.jsonl.gz" ] || done_all=false
  done
  if $done_all; then
    echo "stage 0: manifests in $manifest_dir exist, skipping"
  else
    hent-srt prepare fisher_callhome --translation-dir "$translation_dir" \
      ${fisher_audio_dir:+--fisher-audio-dir "$fisher_audio_dir"} \
      ${fisher_transcript_dir:+--fisher-transcript-dir "$fisher_transcript_dir"} \
      ${callhome_audio_dir:+--callhome-audio-dir "$callhome_audio_dir"} \
      ${callhome_transcript_dir:+--callhome-transcript-dir "$callhome_transcript_dir"} \
      --out-dir "$manifest_dir" ${flac_dir:+--flac-dir "$flac_dir"}
  fi
fi

# Stages 1-6 (docs/architecture.md, "Recipe stages"): shared by every recipe.
manifest_prefix=$manifest_dir/fisher_callhome
train_split=fisher_train
dev_split=fisher_dev
src_normalizer=lc_rm
tgt_normalizer=lc_rm
unit=word
. ../../scripts/recipe_stages.sh
