#!/usr/bin/env bash
# Defaults of the published-system recipes (docs/architecture.md, "Configuration"), sourced by egs/<corpus>/run.sh before
# scripts/parse_options.sh so that each one can be overridden on the command line (--ngpu 8, --epoch 25 ...).
# scripts/recipe_stages.sh reads them.
src_vocab_size=5000  # source BPE (shared over languages in multi_conv)
tgt_vocab_size=4000  # English BPE
ngpu=4               # GPUs for stages 3-4 (torchrun); 1 trains in one process
num_jobs=8           # feature-extraction processes
epoch=20             # stage 5 decodes the model averaged over epochs epoch-avg+1 .. epoch
avg=13
train_args=          # extra `hent-srt train` arguments, e.g. "--set data.max_duration=100"
data=data
exp=exp
results=RESULTS.md
speed_perturb=true
musan_dir=           # the MUSAN corpus (openslr.org/17): noise + music mixed into training as published; "none": off
finetune_models=hent_srt
decode_method=modified_beam_search
beam=20
blank_penalties=1.0  # ST blank penalty; a comma list sweeps it
blank_penalty_asr=   # ASR blank penalty of stage 5 (empty: the conf's decode.blank_penalty_asr, 0; "tune": chosen on dev)
blank_penalty_asr_grid=  # the penalties --blank-penalty-asr tune tries (empty: 0,0.5,...,3)
adaptive_estimators=  # stage 5: also decode the test splits with the adaptive ST blank penalty, e.g. "asr_length st_ctc"
export_streaming=false  # stage 6: also export model-streaming.pt (needs a causal conf, e.g. recipes/hent_srt_streaming.yaml)
verify_num=20        # stage 6: test utterances on which every export must reproduce PyTorch's greedy hypotheses
pretrain_model=asr_pretrain  # stage-3 conf name; a streaming system pretrains a causal encoder (conf/<name>.yaml)
init_checkpoint=best  # stage 4 starts from stage 3's best-valid-loss.pt (best, as published), last epoch (last) or averaged model (averaged)
decode_streaming=false  # stage 5: decode chunk by chunk (causal confs), with latency
decode_threads=0     # stage 5: torch's CPU threads per decode (0: torch's default)
