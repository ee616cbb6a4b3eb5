#!/usr/bin/env bash
# Rebuild the demo model from nothing (about 15 minutes on 2 CPU cores): synthetic dataset ->
# skeleton-cropped cache at 72² -> two-pass hierarchical training -> best.pt and its test-split
# report, all inside the work folder. The bundled edgeact/assets/demo.pt (what `live --demo` and
# `--model demo` load) is replaced only with --install; rerunning resumes where it stopped.
#
#   bash train/demo.sh [--install] [work dir, default runs/demo]
set -euo pipefail
usage="usage: bash train/demo.sh [--install] [work dir, default runs/demo]"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
install=0
work=
for arg in "$@"; do
  case $arg in
    --install) install=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "demo.sh: unknown option $arg; $usage" >&2; exit 2 ;;
    *) if [ -n "$work" ]; then echo "demo.sh: one work dir only; $usage" >&2; exit 2; fi; work=$arg ;;
  esac
done
work=${work:-runs/demo}
mkdir -p "$work"
edgeact synth --out "$work/synth" --seed 0 --performers 8 --video-frames 48 --resume
edgeact prep --dataset ntu --root "$work/synth" --out "$work/cache72" --resize 72
edgeact train --recipe "$repo/train/demo.yaml" --data "$work/cache72" --out "$work/run" --device cpu
edgeact eval --model "$work/run/best.pt" --data "$work/cache72" --benchmark ntu60-xsub --out "$work/eval.json"
if [ "$install" = 1 ]; then
  # copy beside the target, then rename: an interrupted copy never leaves a broken bundled model
  assets="$repo/edgeact/assets"
  cp "$work/run/best.pt" "$assets/.demo.pt.tmp"
  mv -f "$assets/.demo.pt.tmp" "$assets/demo.pt"
  echo "replaced $assets/demo.pt with $work/run/best.pt (test-split report: $work/eval.json)"
else
  echo "wrote $work/run/best.pt (test-split report: $work/eval.json); the bundled demo model is unchanged."
  echo "try it: edgeact live --demo --model $work/run/best.pt; make it the bundled one: bash train/demo.sh --install $work"
fi
