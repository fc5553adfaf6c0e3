#!/usr/bin/env bash
# One model for IWSLT22 Tunisian, Fisher/CALLHOME Spanish and HKUST Mandarin -> English (shared source BPE).
# Run stage 0 of ../iwslt22_ta, ../fisher_callhome and ../hkust first (any subset); this recipe merges them.
#   ./run.sh --musan-dir /data/musan   # noise mixing as published; --musan-dir none trains without it
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=6
iwslt22_ta_dir=../iwslt22_ta/data/manifests
fisher_callhome_dir=../fisher_callhome/data/manifests
hkust_dir=../hkust/data/manifests
manifest_dir=data/manifests
test_splits="iwslt22_ta_test1 fisher_dev2 fisher_test callhome_evltest hkust_dev"
. ../../scripts/recipe_defaults.sh
. ../../scripts/parse_options.sh

# Stage 0: merge the corpora's manifests (skipped when the union's training manifests exist).
if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if [ -f "$manifest_dir/multi_conv_supervisions_train.jsonl.gz" ]; then
    echo "stage 0: manifests in $manifest_dir exist, skipping"
  else
    args=""
    [ -d "$iwslt22_ta_dir" ] && args="$args --iwslt22-ta-dir $iwslt22_ta_dir"
    [ -d "$fisher_callhome_dir" ] && args="$args --fisher-callhome-dir $fisher_callhome_dir"
    [ -d "$hkust_dir" ] && args="$args --hkust-dir $hkust_dir"
    if [ -z "$args" ]; then
      echo "$0: no prepared corpus found; run stage 0 of ../iwslt22_ta, ../fisher_callhome or ../hkust first" >&2
      exit 2
    fi
    hent-srt prepare multi_conv $args --out-dir "$manifest_dir"
  fi
fi

# Stages 1-6 (docs/architecture.md, "Recipe stages"): shared by every recipe.
manifest_prefix=$manifest_dir/multi_conv
train_split=train
dev_split=dev
src_normalizer=none
tgt_normalizer=lc_rm
unit=word
src_normalizer_iwslt22_ta_test1=iwslt22_ta
tgt_normalizer_iwslt22_ta_test1=iwslt22_en
src_normalizer_fisher_dev2=lc_rm
src_normalizer_fisher_test=lc_rm
src_normalizer_callhome_evltest=lc_rm
src_normalizer_hkust_dev=mandarin
unit_hkust_dev=char
. ../../scripts/recipe_stages.sh
