#!/usr/bin/env bash
# Every GPU figure edgeact needs, in one time-boxed run: about 8 minutes on an NVIDIA H200.
#
#   bench/gpu_check.sh [--device cuda|cpu] [--tiny] [OUT_DIR]
#
# OUT_DIR (new or empty; default bench/results/gpu_<UTC time>) gets three files:
#   summary.md, summary.json  the GPU (nvidia-smi, torch), driver, torch/CUDA/cuDNN versions, each
#                             step's status (ok, failed, timeout, skipped: with its reason or error
#                             tail), every bench row (backend, precision, batch, p50 ms, clips/s,
#                             ratio vs eager fp32, TFLOP/s), the i3d_r50 8x224 batch-1 latency
#                             against its FLOP bound, the training step, live overhead, GPU tests
#   raw.tar.gz                each step's log and report
# Both are rewritten after every step, so a run cut short keeps what it measured.
#
# Steps, the most valuable figures first; each runs under `timeout` (its own cap) and the whole
# under a budget; a step that fails or times out is recorded and the next one runs; a step that
# no longer fits in the budget is recorded as skipped:
#   nvidia_smi        GPU facts (query only: no setting is changed)
#   install           carried wheels (.whl/*.whl -> /tmp/site), then `pip install --no-deps -e .`
#                     where edgeact is not installed (an install from elsewhere is left alone);
#                     the machine's torch is never replaced, and PYTHONPATH=<repo> puts this
#                     checkout first for every step whatever pip does
#   facts             python/torch/CUDA/cuDNN, packages, GFLOP per clip (bench/gpu_facts.py)
#   model_r50         edgeact bench model, i3d_r50 8x224, batch 1,32: torch eager fp32 and fp16
#   variants_r50      TF32 on/off, fp16/bf16 autocast, NCDHW vs channels_last_3d (bench/gpu_variants.py)
#   train_r50         one AMP training step's clips/s at batch 32, synthetic clips (bench/train_step.py)
#   model_r18, variants_r18   the same for i3d_r18 8x112, batch 1,8
#   live_demo, live_r50       edgeact live overhead on a synthetic skeleton replay, classifier on CUDA
#   cudagraphs_r50_b1 torch.compile + CUDA graphs (torch-cudagraphs), i3d_r50 batch 1, fp16
#   gpu_tests         pytest -m gpu (the TensorRT tests skip: no TensorRT there)
#   compile_r50_b1, cudagraphs_r18, compile_r18, compile_r50_b32, compile_r50_fp32
#                     torch.compile rows (each compile of i3d_r50 can take a minute or more)
#   nvidia_smi_after  clocks and temperature after the load (always runs)
#
# --device cpu is the dry run: the same steps on tiny models, batches and repeats (a few minutes on
# 2 busy cores), so the GPU run does not fail on a typo; tests/test_gpu_check.py runs it. The steps
# that need CUDA are recorded as skipped with the reason, and torch.compile runs with
# TORCHDYNAMO_DISABLE=1 (inductor on 2 CPU cores takes minutes; tests/test_runtime.py covers it).
# --tiny shrinks a CUDA run the same way (a quick smoke test on a GPU).
#
# On the device machine (the `run` tool: python3 is 3.12 with torch; no network there):
#   run(command='bench/gpu_check.sh "$OUT"', timeout_s=570, carry=[".whl"])
# timeout_s=570 leaves the 480 s budget, the last step's kill margin and the summary room. None of
# the steps needs a package that machine lacks (ultralytics, lap and TensorRT are not used: the live
# bench replays skeletons), so `.whl` is only for a missing package you add; carry it if it exists.
# The three files come back from $OUT (at most 8 files are returned). To rerun some steps only:
#   run(command='GPU_CHECK_STEPS=compile_r18,cudagraphs_r18 GPU_CHECK_BUDGET_S=240 bench/gpu_check.sh "$OUT"', timeout_s=300)
#
# Environment: GPU_CHECK_PYTHON (python3), GPU_CHECK_BUDGET_S (480 on CUDA, 900 on the CPU),
# GPU_CHECK_STEPS (comma list of step names, in any order: run in the order above),
# GPU_CHECK_MIN_STEP_S (30 on CUDA, 5 on the CPU: a step starts only with this much budget left),
# GPU_CHECK_WHEELS (<repo>/.whl), GPU_CHECK_SITE (/tmp/site), GPU_CHECK_PEAK_TFLOPS (790: the bf16
# matrix rate measured on this workplace's H200s, the bound's denominator).
set -euo pipefail
# The whole script is one { ... } block: bash reads it before running any of it, so editing or
# updating the file during a run cannot change what the run does.
{

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ALL_STEPS=(nvidia_smi install facts model_r50 variants_r50 train_r50 model_r18 variants_r18 live_demo live_r50
           cudagraphs_r50_b1 gpu_tests compile_r50_b1 cudagraphs_r18 compile_r18 compile_r50_b32 compile_r50_fp32
           nvidia_smi_after)
usage="usage: bench/gpu_check.sh [--device cuda|cpu] [--tiny] [OUT_DIR]"
die() { echo "gpu_check.sh: $*" >&2; exit 2; }

DEV=cuda TINY=0 OUT_DIR=
while [ $# -gt 0 ]; do
    case "$1" in
        --device) [ $# -ge 2 ] || die "--device needs a value (cuda or cpu)"; DEV=$2; shift 2 ;;
        --device=*) DEV=${1#--device=}; shift ;;
        --tiny) TINY=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1; $usage" ;;
        *) [ -z "$OUT_DIR" ] || die "one OUT_DIR only (got $OUT_DIR and $1); $usage"; OUT_DIR=$1; shift ;;
    esac
done
case "$DEV" in cuda|cpu) ;; *) die "--device $DEV: use cuda or cpu" ;; esac
[ "$DEV" = cpu ] && TINY=1

PY=${GPU_CHECK_PYTHON:-python3}
command -v "$PY" >/dev/null || die "GPU_CHECK_PYTHON=$PY: no such program"
if [ "$DEV" = cuda ]; then BUDGET=${GPU_CHECK_BUDGET_S:-480}; MIN_STEP=${GPU_CHECK_MIN_STEP_S:-30}
else BUDGET=${GPU_CHECK_BUDGET_S:-900}; MIN_STEP=${GPU_CHECK_MIN_STEP_S:-5}; fi
[[ "$BUDGET" =~ ^[0-9]+$ && "$MIN_STEP" =~ ^[0-9]+$ ]] || die "GPU_CHECK_BUDGET_S and GPU_CHECK_MIN_STEP_S must be whole seconds"
WHEELS=${GPU_CHECK_WHEELS:-$REPO/.whl}
SITE=${GPU_CHECK_SITE:-/tmp/site}
PEAK=${GPU_CHECK_PEAK_TFLOPS:-790}

PLAN=("${ALL_STEPS[@]}")
if [ -n "${GPU_CHECK_STEPS:-}" ]; then
    IFS=, read -r -a wanted <<< "$GPU_CHECK_STEPS"
    for w in "${wanted[@]}"; do
        [[ " ${ALL_STEPS[*]} " == *" $w "* ]] || die "GPU_CHECK_STEPS: unknown step '$w' (steps: ${ALL_STEPS[*]})"
    done
    PLAN=()
    for s in "${ALL_STEPS[@]}"; do [[ ",$GPU_CHECK_STEPS," == *",$s,"* ]] && PLAN+=("$s"); done
fi

OUT_DIR=${OUT_DIR:-$REPO/bench/results/gpu_$(date -u +%Y%m%dT%H%M%SZ)}
if [ -e "$OUT_DIR" ] && { [ ! -d "$OUT_DIR" ] || [ -n "$(ls -A "$OUT_DIR")" ]; }; then
    die "$OUT_DIR: not an empty folder; give a new one (an earlier run's results are never written over)"
fi

# Where Python finds edgeact and any carried wheels, for every step (and whatever pip does).
if compgen -G "$WHEELS/*.whl" >/dev/null; then export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"; fi
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

if [ "$DEV" = cuda ]; then
    why=$("$PY" -c 'import torch; print("" if torch.cuda.is_available() else "torch.cuda.is_available() is False")' 2>&1 | tail -n 1) \
        || die "$PY cannot import torch ($why): nothing measured"
    [ -z "$why" ] || die "no CUDA GPU visible to $PY ($why): nothing measured; for the dry run use --device cpu"
fi

mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd -P)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/logs"
: > "$WORK/steps.tsv"
cd "$REPO"

# ------------------------------------------------------------------------------ sizes
if [ "$TINY" = 1 ]; then
    R50=(i3d_r50 0.25 4 32) R50_B=1,2 R18=(i3d_r18 0.25 4 32) R18_B=1,2 WARM=0 ITERS=2
    TRAIN=(--batch-size 2 --steps 1 --warmup 1) LIVE=(--seconds 2) LIVE_WH=(320 240)
else
    R50=(i3d_r50 1 8 224) R50_B=1,32 R18=(i3d_r18 1 8 112) R18_B=1,8 WARM=5 ITERS=30
    TRAIN=(--batch-size 32 --steps 20 --warmup 3) LIVE=(--seconds 10) LIVE_WH=(640 480)
fi
if [ "$DEV" = cuda ]; then FAST=fp16; else FAST=fp32; fi   # compiled rows: the fast precision only
shape() { echo --arch "$1" --width "$2" --frames "$3" --size "$4"; }
R50_ARGS=$(shape "${R50[@]}") R18_ARGS=$(shape "${R18[@]}")
REPS="--warmup $WARM --iters $ITERS"

# ------------------------------------------------------------------------------ the steps
smi_query=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.draw,power.limit,temperature.gpu,pstate,utilization.gpu
nvidia_smi_step() {
    nvidia-smi --query-gpu="$smi_query" --format=csv > "$WORK/$1.csv" \
        || nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$WORK/$1.csv"
    [ "$1" = nvidia_smi_after ] || nvidia-smi -q > "$WORK/nvidia_smi_q.txt"
    nvidia-smi
}

install_step() {
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl
        echo "gpu_check note: installed $(ls "$WHEELS"/*.whl | wc -l) carried wheel(s) from $WHEELS into $SITE"
    fi
    local where
    # from / without PYTHONPATH: where an installed edgeact lives (python -c would find ./edgeact first)
    where=$(cd / && env -u PYTHONPATH "$PY" -c 'import edgeact, os; print(os.path.realpath(os.path.dirname(edgeact.__file__)))' 2>/dev/null || true)
    if [ "$where" = "$REPO/edgeact" ]; then
        echo "gpu_check note: edgeact is already installed from this checkout"
    elif [ -n "$where" ]; then
        # someone else's install: left alone; PYTHONPATH puts this checkout first for every step
        echo "gpu_check note: the edgeact installed at $where is left alone; this run imports the checkout (PYTHONPATH=$REPO)"
    elif "$PY" -m pip install --no-deps --no-build-isolation --no-index -e "$REPO"; then
        echo "gpu_check note: pip install --no-deps -e . done (torch untouched)"
    else
        echo "gpu_check note: pip install --no-deps -e . failed (output above); edgeact runs from PYTHONPATH=$REPO"
    fi
    # what the check needs and the machine lacks (carry its wheel in .whl/)
    "$PY" - <<'EOF'
import importlib.util, sys
need = ("torch", "numpy", "cv2", "typer", "rich", "yaml", "pytest")
missing = [m for m in need if importlib.util.find_spec(m) is None]
print(f"gpu_check note: missing for the check: {', '.join(missing)} (carry the wheels in .whl/)" if missing
      else "gpu_check note: every package the check needs is there")
sys.exit(1 if missing else 0)
EOF
}

# define NAME: sets CAP (s), CUDA_ONLY (reason or empty), NOTE and CMD (the command as an array)
define() {
    CAP=120 CUDA_ONLY= NOTE= CMD=()
    local bm=("$PY" -m edgeact bench model --device "$DEV" $REPS --json "$WORK/$1.json" --md "$WORK/$1.md")
    local nodynamo=()
    if [ "$DEV" = cpu ]; then
        nodynamo=(env TORCHDYNAMO_DISABLE=1)
    fi
    case "$1" in
        nvidia_smi|nvidia_smi_after)
            CAP=30; CMD=(bash -c "$(declare -p WORK smi_query); $(declare -f nvidia_smi_step); nvidia_smi_step $1")
            command -v nvidia-smi >/dev/null || CUDA_ONLY="no nvidia-smi on this machine (no NVIDIA driver)" ;;
        install)
            CAP=120; CMD=(bash -c "$(declare -p PY REPO WHEELS SITE); $(declare -f install_step); install_step") ;;
        facts)
            CAP=90; CMD=("$PY" bench/gpu_facts.py --json "$WORK/facts.json"
                         --flops "$(IFS=:; echo "${R50[*]}")" --flops "$(IFS=:; echo "${R18[*]}")") ;;
        model_r50) CAP=120; CMD=("${bm[@]}" $R50_ARGS --batch-size "$R50_B" --backends torch) ;;
        model_r18) CAP=90; CMD=("${bm[@]}" $R18_ARGS --batch-size "$R18_B" --backends torch) ;;
        variants_r50|variants_r18)
            local args=$R50_ARGS batch=$R50_B
            [ "$1" = variants_r18 ] && args=$R18_ARGS batch=$R18_B
            CAP=150; CMD=("$PY" bench/gpu_variants.py $args --batch-size "$batch" --device "$DEV" $REPS
                          --json "$WORK/$1.json" --md "$WORK/$1.md") ;;
        train_r50) CAP=120; CMD=("$PY" bench/train_step.py $R50_ARGS "${TRAIN[@]}" --device "$DEV" --json "$WORK/$1.json") ;;
        live_demo)
            CAP=120; CMD=("$PY" -m edgeact bench live --model demo --pose skeleton --device "$DEV" "${LIVE[@]}"
                          --video-width "${LIVE_WH[0]}" --video-height "${LIVE_WH[1]}"
                          --json "$WORK/$1.json") ;;
        live_r50)
            CAP=120; CMD=("$PY" bench/live.py --arch "${R50[0]}" --size "${R50[3]}" --pose skeleton --device "$DEV"
                          "${LIVE[@]}" --video-width "${LIVE_WH[0]}" --video-height "${LIVE_WH[1]}" --json "$WORK/$1.json") ;;
        gpu_tests)
            CAP=240; CMD=("$PY" -m pytest -m gpu -q -rs -p no:cacheprovider --junitxml="$WORK/$1.xml" tests) ;;
        cudagraphs_r50_b1)
            CAP=180; CMD=("${bm[@]}" $R50_ARGS --batch-size 1 --backends torch,torch-cudagraphs --precisions "$FAST") ;;
        compile_r50_b1)
            CAP=180; CMD=("${nodynamo[@]}" "${bm[@]}" $R50_ARGS --batch-size 1 --backends torch,torch-compile --precisions "$FAST") ;;
        cudagraphs_r18)
            CAP=150; CMD=("${bm[@]}" $R18_ARGS --batch-size "$R18_B" --backends torch,torch-cudagraphs --precisions "$FAST") ;;
        compile_r18)
            CAP=150; CMD=("${nodynamo[@]}" "${bm[@]}" $R18_ARGS --batch-size "$R18_B" --backends torch,torch-compile --precisions "$FAST") ;;
        compile_r50_b32)
            CAP=180; CMD=("${nodynamo[@]}" "${bm[@]}" $R50_ARGS --batch-size "${R50_B##*,}" --backends torch,torch-compile --precisions "$FAST") ;;
        compile_r50_fp32)
            CAP=180; CMD=("${nodynamo[@]}" "${bm[@]}" $R50_ARGS --batch-size 1 --backends torch,torch-compile --precisions fp32) ;;
    esac
    if [ "$DEV" = cpu ]; then
        case "$1" in cudagraphs_*) CUDA_ONLY="CUDA graphs need a CUDA device (dry run on cpu)" ;; esac
        case "$1" in compile_*) NOTE="dry run: TORCHDYNAMO_DISABLE=1, torch.compile not exercised" ;; esac
    fi
}

record() {  # NAME STATUS RC SECONDS CAP NOTE COMMAND
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$WORK/steps.tsv"
}

summarize() {
    "$PY" bench/gpu_summary.py --work "$WORK" --out "$OUT_DIR" --device "$DEV" --tiny "$TINY" --budget "$BUDGET" \
        --started "$START" --peak-tflops "$PEAK" --plan "$(IFS=,; echo "${PLAN[*]}")" "$@" \
        || echo "gpu_check.sh: the summary failed (the raw logs are in raw.tar.gz)" >&2
    tar -czf "$OUT_DIR/raw.tar.gz.part" -C "$WORK" . && mv -f "$OUT_DIR/raw.tar.gz.part" "$OUT_DIR/raw.tar.gz"
}

START=$(date +%s)
echo "gpu_check: device $DEV$([ "$TINY" = 1 ] && echo ' (tiny sizes)'), budget ${BUDGET}s, ${#PLAN[@]} steps -> $OUT_DIR"
for name in "${PLAN[@]}"; do
    define "$name"
    cmdline=$(printf '%q ' "${CMD[@]}")
    left=$(( START + BUDGET - $(date +%s) )); [ "$left" -ge 0 ] || left=0
    if [ -n "$CUDA_ONLY" ]; then
        record "$name" skipped "" 0 "$CAP" "$CUDA_ONLY" "$cmdline"
    elif [ "$name" != nvidia_smi_after ] && [ "$left" -lt "$MIN_STEP" ]; then
        record "$name" skipped "" 0 "$CAP" "not started: ${left}s of the ${BUDGET}s budget left" "$cmdline"
    else
        [ "$name" = nvidia_smi_after ] || [ "$CAP" -le "$left" ] || CAP=$left
        echo "gpu_check: $name (cap ${CAP}s, ${left}s of the budget left)"
        t0=$(date +%s%N)
        rc=0
        timeout --kill-after=10 "$CAP" "${CMD[@]}" > "$WORK/logs/$name.log" 2>&1 || rc=$?
        secs=$(( ($(date +%s%N) - t0) / 1000000 ))
        case $rc in 0) status=ok ;; 124|137) status=timeout ;; *) status=failed ;; esac
        record "$name" "$status" "$rc" "$(printf '%d.%03d' $((secs / 1000)) $((secs % 1000)))" "$CAP" "$NOTE" "$cmdline"
        echo "gpu_check: $name $status"
    fi
    summarize --quiet
done
summarize
exit 0
}
