#!/usr/bin/env bash
# The embedded default recipe: a synthetic Spanish→English speech-translation corpus made on the fly,
# trained and decoded on CPU. Stages follow DESIGN.md §1.
set -euo pipefail
cd "$(dirname "$0")"
stage=0
stop_stage=100
pair=es-en
. ../../scripts/parse_options.sh

cat <<MSG
egs/mini will run, for the pair $pair:
  0  hent-srt synth     synthetic corpus (eSpeak NG speech, reordered English translations)
  1  hent-srt features  80-dim fbank
  2  hent-srt bpe       source and target sentencepiece models
  3  hent-srt train     ASR pretraining (transducer + CTC + CR-CTC)
  4  hent-srt train     multitask ASR+ST fine-tuning from stage 3
  5  hent-srt decode    average, decode with a blank-penalty sweep, write RESULTS.md
MSG
echo "egs/mini: the training and decoding stages are not available yet in this version of hent-srt." >&2
exit 2
