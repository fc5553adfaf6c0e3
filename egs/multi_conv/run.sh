#!/usr/bin/env bash
# One model for IWSLT22 Tunisian, Fisher/CALLHOME Spanish and HKUST Mandarin -> English (shared source BPE).
# Run stage 0 of ../iwslt22_ta, ../fisher_callhome and ../hkust first (any subset); this recipe merges them.
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=6
iwslt22_ta_dir=../iwslt22_ta/data/manifests
fisher_callhome_dir=../fisher_callhome/data/manifests
hkust_dir=../hkust/data/manifests
manifest_dir=data/manifests
python=python3
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
    "$python" ../../local/prepare_multi_conv.py $args --output-dir "$manifest_dir"
  fi
fi

# Stages 1-6 (DESIGN.md §1); their conf files are written with the training recipes.
if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  hent-srt features --config conf/features.yaml
fi
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  hent-srt bpe --config conf/bpe.yaml
fi
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  hent-srt train --config conf/asr_pretrain.yaml
fi
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  hent-srt train --config conf/hent_srt.yaml --init-from exp/asr_pretrain
fi
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  hent-srt decode --config conf/decode.yaml
fi
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  hent-srt export --config conf/export.yaml
fi
