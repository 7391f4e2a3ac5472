#!/usr/bin/env bash
# Reruns the study in docs/results.md: every model of `keras-laurel compare`
# for 3 seeds at the paper's rank and at one other rank, on both tasks.
# Usage (from the repository root, after the README's set-up):
#   TFDS_DATA_DIR=... bash docs/results/reproduce.sh [gpt2|gpt2-2layer|gpt2-2layer-r32|lr-seeds|lr-scale|lr-placement|lr-rank|lr-longer|resnet|resnet-cosine|resnet-shapes|resnet-narrow-long|resnet-narrow-long-lr|resnet-narrow-long-r4|resnet-narrow-long-pa|resnet-narrow-pa|resnet-narrow-pa-2222|depth-budget|depth|depth-rw+lr|depth-pa|depth-relatives|all]
# On a machine with internet, leave TFDS_DATA_DIR unset and use --dataset cifar10
# for the ResNet (DATASET=cifar10); this offline study used fashion_mnist.
set -euo pipefail
cd "$(dirname "$0")/../.."
COMPARE=${COMPARE:-.venv/bin/keras-laurel compare}
OUT=${OUT:-docs/results}
SEEDS=${SEEDS:-"0 1 2"}
DATASET=${DATASET:-fashion_mnist}
export KERAS_BACKEND=${KERAS_BACKEND:-tensorflow}
what=${1:-all}

GPT2=(--task gpt2-shakespeare --steps 1500 --quiet)
# A smaller GPT-2 (2 decoder layers, so "+1" is a 50% deeper model) trained twice as long.
GPT2_2LAYER=(--task gpt2-shakespeare --layers 2 --steps 3000 --quiet)
RESNET=(--task resnet-cifar10 --dataset "$DATASET" --stage-filters 64,64,128,256
        --stage-blocks 2,2,2,2 --image-size 32 --steps 600 --quiet)
# The same ResNet trained longer with the learning rate decayed to 0 (a stable final evaluation).
RESNET_COSINE=("${RESNET[@]}" --steps 2000 --lr-schedule cosine)

run() {  # run <output dir> <args...>
  local dir=$1; shift
  for seed in $SEEDS; do
    if [ -f "$dir/$(task_of "$@")-seed$seed.json" ]; then continue; fi
    $COMPARE "$@" --seed "$seed" --output-dir "$dir"
  done
}
task_of() { local prev=; for a in "$@"; do [ "$prev" = --task ] && echo "$a"; prev=$a; done; }

if [ "$what" = gpt2 ] || [ "$what" = all ]; then
  run "$OUT/gpt2/r8" "${GPT2[@]}" --rank 8 --k 3
  run "$OUT/gpt2/r32" "${GPT2[@]}" --rank 32 --k 3 --variants lr,rw+lr,rw+lr+pa --no-plus-one
fi
if [ "$what" = gpt2-2layer ] || [ "$what" = all ]; then
  run "$OUT/gpt2-2layer/r8" "${GPT2_2LAYER[@]}" --rank 8 --k 3
fi
if [ "$what" = gpt2-2layer-r32 ] || [ "$what" = all ]; then  # the same budget at the paper's rank
  run "$OUT/gpt2-2layer/r32" "${GPT2_2LAYER[@]}" --rank 32 --k 3 --variants lr,rw+lr,rw+lr+pa --no-plus-one
fi
if [ "$what" = lr-seeds ] || [ "$what" = all ]; then  # is LR at r = 8 really worse? 3 more seeds
  SEEDS="3 4 5" run "$OUT/gpt2/r8-lr-seeds3-5" "${GPT2[@]}" --rank 8 --variants lr --no-plus-one
fi
if [ "$what" = lr-scale ] || [ "$what" = all ]; then  # ... and with a 10x smaller step for A, B?
  run "$OUT/gpt2/r8-lr-scale0.1" "${GPT2[@]}" --rank 8 --variants lr --no-plus-one --lowrank-lr-scale 0.1
fi
if [ "$what" = lr-placement ] || [ "$what" = all ]; then  # ... and at the MLP residual instead?
  run "$OUT/gpt2/r8-lr-feedforward" "${GPT2[@]}" --rank 8 --variants lr --no-plus-one --placement feedforward
fi
if [ "$what" = lr-rank ] || [ "$what" = all ]; then  # ... is r = 32 free of it? seeds 3-5
  SEEDS="3 4 5" run "$OUT/gpt2/r32-lr-seeds3-5" "${GPT2[@]}" --rank 32 --variants lr --no-plus-one
fi
if [ "$what" = lr-longer ] || [ "$what" = all ]; then  # ... and does it shrink with 2x the steps?
  run "$OUT/gpt2/lr-r8-3000steps" --task gpt2-shakespeare --steps 3000 --quiet --rank 8 \
      --variants lr --no-plus-one
fi
if [ "$what" = resnet ] || [ "$what" = all ]; then
  run "$OUT/resnet/r16" "${RESNET[@]}" --rank 16 --k 3
  run "$OUT/resnet/r4" "${RESNET[@]}" --rank 4 --k 3 --variants lr,rw+lr,rw+lr+pa --no-plus-one
fi
if [ "$what" = resnet-cosine ] || [ "$what" = all ]; then
  run "$OUT/resnet-cosine/r16" "${RESNET_COSINE[@]}" --rank 16 --k 3
fi
# One bottleneck block per stage, cosine-decayed learning rate; baseline, "+1" and RW.
SHALLOW=(--task resnet-cifar10 --dataset "$DATASET" --stage-blocks 1,1,1,1 --image-size 32
         --steps 3000 --lr-schedule cosine --rank 16 --k 3 --variants rw --quiet)
if [ "$what" = resnet-shapes ] || [ "$what" = all ]; then  # does a shallower ResNet reward "+1"? seed 0
  SEEDS=${SHAPE_SEEDS:-0} run "$OUT/resnet-shapes/1-1-1-1-wide" "${SHALLOW[@]}" --stage-filters 64,64,128,256
  SEEDS=${SHAPE_SEEDS:-0} run "$OUT/resnet-shapes/1-1-1-1-narrow" "${SHALLOW[@]}" --stage-filters 64,16,16,16
fi
if [ "$what" = resnet-narrow-long ] || [ "$what" = all ]; then  # ... the narrow one over 8 passes
  run "$OUT/resnet-shapes/1-1-1-1-narrow-15000steps" "${SHALLOW[@]}" --stage-filters 64,16,16,16 \
      --steps 15000
  # ... and RW+LR at the paper's r = 16 (PA and RW+LR+PA are the target resnet-narrow-long-pa)
  run "$OUT/resnet-shapes/1-1-1-1-narrow-15000steps-r16" "${SHALLOW[@]}" --stage-filters 64,16,16,16 \
      --steps 15000 --variants rw+lr --no-plus-one
fi
if [ "$what" = resnet-narrow-long-lr ] || [ "$what" = all ]; then  # ... and LR alone at r = 16
  run "$OUT/resnet-shapes/1-1-1-1-narrow-15000steps-lr-r16" "${SHALLOW[@]}" --stage-filters 64,16,16,16 \
      --steps 15000 --variants lr --no-plus-one
fi
if [ "$what" = resnet-narrow-long-r4 ] || [ "$what" = all ]; then  # ... and RW+LR at the other rank, r = 4
  run "$OUT/resnet-shapes/1-1-1-1-narrow-15000steps-r4" "${SHALLOW[@]}" --stage-filters 64,16,16,16 \
      --steps 15000 --variants rw+lr --no-plus-one --rank 4
fi
if [ "$what" = resnet-narrow-long-pa ] || [ "$what" = all ]; then  # ... and PA, RW+LR+PA at r = 16
  # (with one block per stage PA has no earlier activation of the same shape to mix, so here it is
  # a learned scale on the skip path and RW+LR+PA is RW+LR with one more scalar per site)
  run "$OUT/resnet-shapes/1-1-1-1-narrow-15000steps-pa" "${SHALLOW[@]}" --stage-filters 64,16,16,16 \
      --steps 15000 --variants pa,rw+lr+pa --no-plus-one
fi
# PA needs an earlier activation of the same shape, so a narrow ResNet with two blocks in the third
# stage (1-1-2-1; "+1" is 1-1-3-1): baseline, +1, PA and RW+LR+PA at r = 16, k = 3.
if [ "$what" = resnet-narrow-pa ] || [ "$what" = all ]; then
  run "$OUT/resnet-shapes/1-1-2-1-narrow-15000steps" "${SHALLOW[@]}" --stage-filters 64,16,16,16 \
      --stage-blocks 1,1,2,1 --steps 15000 --variants pa,rw+lr+pa
fi
# ... and with two blocks in every stage (2-2-2-2; "+1" is 2-2-3-2), so PA mixes at four sites.
if [ "$what" = resnet-narrow-pa-2222 ] || [ "$what" = all ]; then
  run "$OUT/resnet-shapes/2-2-2-2-narrow-15000steps" "${SHALLOW[@]}" --stage-filters 64,16,16,16 \
      --stage-blocks 2,2,2,2 --steps 15000 --variants pa,rw+lr+pa
fi
# Depth: a deep, narrow Llama-style decoder (pre-norm RMSNorm, rotary positions, gated MLP),
# 12 layers x 128 wide, characters of Tiny Shakespeare at sequence 128, batch 16, with LAuReL at
# both residuals of every layer at the paper's proportions (r = 5, about 4% of the width; k = 3).
# About 0.5-0.7 s a step on an idle 2-core x86 CPU, so a model of DEPTH_STEPS=2400 takes 20-30
# minutes. The budget search also ran DEPTH_STEPS=1200 (3 seeds).
DEPTH_STEPS=${DEPTH_STEPS:-2400}
DEPTH=(--task gpt2-shakespeare --decoder llama --layers 12 --hidden 128 --heads 4 --seq-len 128
       --batch-size 16 --steps "$DEPTH_STEPS" --lr-schedule cosine --warmup-steps 100
       --placement both --rank 5 --k 3 --quiet)
if [ "$what" = depth-budget ]; then  # does the 13th layer pay at this budget? baseline, +1; 2 seeds
  SEEDS=${BUDGET_SEEDS:-"0 1"} run "$OUT/depth/12x128-${DEPTH_STEPS}steps-budget" "${DEPTH[@]}" \
      --variants none
fi
# The LAuReL variants at that budget (DEPTH_VARIANTS: all five unless narrowed), with the
# baseline and "+1" of the budget search taken from it where it trained that seed.
if [ "$what" = depth ] || [ "$what" = all ]; then
  run "$OUT/depth/12x128-${DEPTH_STEPS}steps" "${DEPTH[@]}" \
      --variants "${DEPTH_VARIANTS:-rw,lr,pa,rw+lr,rw+lr+pa}" \
      --reuse-from "$OUT/depth/12x128-${DEPTH_STEPS}steps-budget"
fi
# ... and RW+LR added to a finished RW-only run of that target (DEPTH_VARIANTS=rw), whose baseline,
# +1 and RW it takes rather than training them again.
if [ "$what" = depth-rw+lr ]; then
  run "$OUT/depth/12x128-${DEPTH_STEPS}steps-rw+lr" "${DEPTH[@]}" --variants rw,rw+lr \
      --reuse-from "$OUT/depth/12x128-${DEPTH_STEPS}steps"
fi
# ... and PA and RW+LR+PA added to the finished RW+LR run, whose baseline, +1, RW and RW+LR it takes.
if [ "$what" = depth-pa ]; then
  run "$OUT/depth/12x128-${DEPTH_STEPS}steps-pa" "${DEPTH[@]}" --variants rw,rw+lr,pa,rw+lr+pa \
      --reuse-from "$OUT/depth/12x128-${DEPTH_STEPS}steps-rw+lr"
fi
# ... and LAuReL's relatives at that depth: DenseFormer, dynamic hyper-connections and mHC (n = 4,
# at every residual), taking the baseline, +1 and the four LAuReL variants of depth-pa.
if [ "$what" = depth-relatives ]; then
  run "$OUT/depth/12x128-${DEPTH_STEPS}steps-relatives" "${DEPTH[@]}" \
      --variants rw,rw+lr,pa,rw+lr+pa,denseformer,hc,mhc \
      --reuse-from "$OUT/depth/12x128-${DEPTH_STEPS}steps-pa"
fi
