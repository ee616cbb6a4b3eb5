#!/usr/bin/env bash
# Paper Table 8 on `edgeact synth` data: baseline (whole frames, flat loss), + skeleton cropping,
# full model (+ hierarchical loss), + each pruning pass (global and per layer). ~20 min on 2 CPU cores.
# Everything is written inside the work folder; the shipped bench/results/ablation_synth.{md,json}
# are replaced only with --publish. Rerunning resumes where it stopped.
#
#   bash train/synth-ablation.sh [--publish] [work dir, default runs/synth-ablation]
set -euo pipefail
usage="usage: bash train/synth-ablation.sh [--publish] [work dir, default runs/synth-ablation]"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
publish=0
work=
for arg in "$@"; do
  case $arg in
    --publish) publish=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "synth-ablation.sh: unknown option $arg; $usage" >&2; exit 2 ;;
    *) if [ -n "$work" ]; then echo "synth-ablation.sh: one work dir only; $usage" >&2; exit 2; fi; work=$arg ;;
  esac
done
work=${work:-runs/synth-ablation}
mkdir -p "$work"
edgeact synth --out "$work/synth" --seed 0 --performers 8 --video-frames 48 --resume
edgeact prep --dataset ntu --root "$work/synth" --out "$work/cropped" --resize 72
edgeact prep --dataset ntu --root "$work/synth" --out "$work/whole" --resize 72 --no-crop
edgeact ablate --recipe "$repo/train/synth-ablation.yaml" --data "$work/cropped" --uncropped "$work/whole" \
  --out "$work/ablation" --device cpu --quiet
if [ "$publish" = 1 ]; then
  results="$repo/bench/results"
  for ext in md json; do
    # copy beside the target, then rename: an interrupted copy never leaves a half-written result
    cp "$work/ablation/ablation.$ext" "$results/.ablation_synth.$ext.tmp"
    mv -f "$results/.ablation_synth.$ext.tmp" "$results/ablation_synth.$ext"
  done
  echo "replaced $results/ablation_synth.md and .json with $work/ablation/ablation.{md,json}"
else
  echo "wrote $work/ablation/ablation.md and .json; bench/results is unchanged (publish there: bash train/synth-ablation.sh --publish $work)"
fi
