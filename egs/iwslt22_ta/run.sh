#!/usr/bin/env bash
# IWSLT 2022 Tunisian Arabic -> English (LDC2022E01 / LDC2025S05). See README.md for the data it needs.
#   ./run.sh --stage 0 --stop-stage 6 --corpus-dir /data/LDC2022E01 --split-dir /data/iwslt22-dialect \
#            --musan-dir /data/musan   # noise mixing as published; --musan-dir none trains without it
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=6
corpus_dir=
split_dir=
manifest_dir=data/manifests
flac_dir=data/flac  # one-time FLAC copy of the SPHERE audio; pass --flac-dir "" to read the .sph files
test_splits="dev test1"
. ../../scripts/recipe_defaults.sh
. ../../scripts/parse_options.sh

# Stage 0: corpus -> lhotse manifests (skipped when all of them exist).
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  done_all=true
  for split in train dev test1; do
    [ -f "$manifest_dir/iwslt22_ta_supervisions_$split.jsonl.gz" ] || done_all=false
  done
  if $done_all; then
    echo "stage 0: manifests in $manifest_dir exist, skipping"
  else
    if [ -z "$corpus_dir" ] || [ -z "$split_dir" ]; then
      echo "$0: stage 0 needs --corpus-dir (LDC2022E01) and --split-dir (iwslt22-dialect checkout); see README.md" >&2
      exit 2
    fi
    hent-srt prepare iwslt22_ta --corpus-dir "$corpus_dir" --split-dir "$split_dir" \
      --out-dir "$manifest_dir" ${flac_dir:+--flac-dir "$flac_dir"}
  fi
fi

# Stages 1-6 (docs/architecture.md, "Recipe stages"): shared by every recipe.
manifest_prefix=$manifest_dir/iwslt22_ta
train_split=train
dev_split=dev
src_normalizer=iwslt22_ta
tgt_normalizer=iwslt22_en
unit=word
. ../../scripts/recipe_stages.sh
