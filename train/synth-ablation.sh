#!/usr/bin/env bash
# Paper Table 8 on `edgeact synth` data: baseline (whole frames, flat loss), + skeleton cropping,
# full model (+ hierarchical loss), + each pruning pass (global and per layer). ~20 min on 2 CPU cores.
#
#   bash train/synth-ablation.sh [work dir, default runs/synth-ablation]
set -euo pipefail
work=${1:-runs/synth-ablation}
mkdir -p "$work"
edgeact synth --out "$work/synth" --seed 0 --performers 8 --frames 48
edgeact prep --dataset ntu --root "$work/synth" --out "$work/cropped" --size 72
edgeact prep --dataset ntu --root "$work/synth" --out "$work/whole" --size 72 --no-crop
edgeact ablate --recipe train/synth-ablation.yaml --data "$work/cropped" --uncropped "$work/whole" \
  --out "$work/ablation" --device cpu --quiet
cp "$work/ablation/ablation.md" bench/results/ablation_synth.md
cp "$work/ablation/ablation.json" bench/results/ablation_synth.json
