#!/usr/bin/env bash
# Rebuild the bundled demo model edgeact/assets/demo.pt from nothing (about 15 minutes on 2 CPU cores):
# synthetic dataset -> skeleton-cropped cache at 72² -> two-pass hierarchical training -> best.pt.
#
#   bash train/demo.sh [work dir, default runs/demo]
set -euo pipefail
work=${1:-runs/demo}
mkdir -p "$work"
edgeact synth --out "$work/synth" --seed 0 --performers 8 --frames 48
edgeact prep --dataset ntu --root "$work/synth" --out "$work/cache72" --size 72
edgeact train --recipe train/demo.yaml --data "$work/cache72" --out "$work/run" --device cpu
edgeact eval --model "$work/run/best.pt" --data "$work/cache72" --benchmark ntu60-xsub --out "$work/eval.json"
cp "$work/run/best.pt" edgeact/assets/demo.pt
echo "wrote edgeact/assets/demo.pt (test-split report: $work/eval.json)"
