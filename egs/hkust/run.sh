#!/usr/bin/env bash
# HKUST Mandarin -> English. See README.md for the data it needs and the translation file format.
#   ./run.sh --audio-dir /data/LDC2005S15 --transcript-dir /data/LDC2005T32 --translation-tsv /data/hkust_en.tsv
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
python=python3
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
    "$python" ../../local/prepare_hkust.py --audio-dir "$audio_dir" --transcript-dir "$transcript_dir" \
      --translation-tsv "$translation_tsv" --output-dir "$manifest_dir" $extra ${flac_dir:+--flac-dir "$flac_dir"}
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
