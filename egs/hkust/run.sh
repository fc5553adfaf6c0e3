#!/usr/bin/env bash
# HKUST Mandarin -> English. See README.md for the data it needs and the translation file format.
#   ./run.sh --audio-dir /data/LDC2005S15 --transcript-dir /data/LDC2005T32 --translation-tsv /data/hkust_en.tsv \
#            --musan-dir /data/musan   # noise mixing as published; --musan-dir none trains without it
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=6
audio_dir=
transcript_dir=
translation_tsv=
allow_untranslated=false
manifest_dir=data/manifests
flac_dir=data/flac  # one-time FLAC copy of the SPHERE audio; pass --flac-dir "" to read the .sph files
test_splits="dev"
. ../../scripts/recipe_defaults.sh
. ../../scripts/parse_options.sh

# Stage 0: corpus -> lhotse manifests (skipped when all of them exist).
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -f "$manifest_dir/hkust_supervisions_train.jsonl.gz" ] && [ -f "$manifest_dir/hkust_supervisions_dev.jsonl.gz" ]; then
    echo "stage 0: manifests in $manifest_dir exist, skipping"
  else
    if [ -z "$audio_dir" ] || [ -z "$transcript_dir" ] || [ -z "$translation_tsv" ]; then
      echo "$0: stage 0 needs --audio-dir (LDC2005S15), --transcript-dir (LDC2005T32) and --translation-tsv; see README.md" >&2
      exit 2
    fi
    extra=""
    $allow_untranslated && extra="--allow-untranslated"
    hent-srt prepare hkust --audio-dir "$audio_dir" --transcript-dir "$transcript_dir" \
      --translation-tsv "$translation_tsv" --out-dir "$manifest_dir" $extra ${flac_dir:+--flac-dir "$flac_dir"}
  fi
fi

# Stages 1-6 (docs/architecture.md, "Recipe stages"): shared by every recipe.
manifest_prefix=$manifest_dir/hkust
train_split=train
dev_split=dev
src_normalizer=mandarin
tgt_normalizer=lc_rm
unit=char
. ../../scripts/recipe_stages.sh
