#!/usr/bin/env bash
# Build the two TensorRT engines that `edgeact live` runs (action classifier + pose model) on the
# machine that will run them, then benchmark both. An engine only loads on the GPU model and the
# TensorRT version that built it, so copy checkpoints between machines, never engines.
#
# Precision lives in the ONNX graph: the classifier is first exported to the ONNX of the asked
# precision (fp32, fp16 inside, or INT8 Q/DQ), then a strongly typed engine is built from that
# file (TensorRT 10.x and 11.x alike; 11.x has no other way). The ONNX stays in OUT_DIR: onnxruntime
# and OpenVINO run the same file.
set -euo pipefail

prog=${0##*/}

usage() {
  cat <<EOF
Usage: $prog [options] CHECKPOINT POSE_MODEL OUT_DIR

Builds TensorRT engines on this machine's NVIDIA GPU (a Jetson, or a desktop GPU):
  OUT_DIR/<checkpoint name>.<precision>.onnx                  with  edgeact export --format onnx [--fp16|--int8]
  OUT_DIR/<checkpoint name>.engine (+ .engine.json metadata)  with  edgeact export --format engine, from that ONNX
  OUT_DIR/<pose name>.engine                                  with  yolo export format=engine
then benchmarks them into OUT_DIR/bench-model.json and OUT_DIR/bench-pose.json
(edgeact bench model / edgeact bench pose).

Arguments:
  CHECKPOINT          checkpoint (.pt) written by edgeact train
  POSE_MODEL          ultralytics pose weights (.pt), e.g. yolo26n-pose.pt
  OUT_DIR             folder for the engines and reports (created if missing)

Options:
  --fp16              FP16 classifier engine, from the fp16 ONNX (the default)
  --no-fp16           FP32 classifier engine
  --int8              INT8 classifier engine, from the Q/DQ ONNX calibrated on --int8-data
                      (the pose engine stays FP16)
  --int8-data CACHE   clips to calibrate --int8 on: a cache made by edgeact prep
                      (--calib-data, its old spelling, is accepted for this release)
  --max-batch N       largest batch the classifier engine accepts (default 8; 1 needs the least memory)
  --frames T          clip length T of the classifier input (default: the checkpoint's)
  --size S            crop side S of the classifier input (default: the checkpoint's)
  --compact           physically remove pruned filters before building (pruned checkpoints)
  --pose-imgsz N      pose engine input size (default 640)
  --pose-workspace G  TensorRT workspace for the pose build, in GiB (lower it on out-of-memory)
  --no-bench          build only, skip the benchmarks
  -h, --help          show this help

Example (on the Jetson):
  $prog runs/ntu60-xsub/best.pt yolo26n-pose.pt /opt/edgeact/engines
EOF
}

usage_error() {
  echo "$prog: $1" >&2
  echo "Run '$prog --help' for usage." >&2
  exit 2
}

die() {
  echo "$prog: $1" >&2
  exit 1
}

need_value() {  # need_value OPTION REMAINING_ARGC
  (( $2 >= 2 )) || usage_error "$1 needs a value"
}

positive_int() {  # positive_int OPTION VALUE
  [[ $2 =~ ^[1-9][0-9]*$ ]] || usage_error "$1 $2: not a positive integer"
}

fp16=1
int8=0
calib=""
max_batch=8
frames=""
size=""
compact=0
pose_imgsz=640
pose_workspace=""
bench=1
positional=()

while (( $# )); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --fp16) fp16=1 ;;
    --no-fp16) fp16=0 ;;
    --int8) int8=1 ;;
    --int8-data) need_value "$1" $#; calib=$2; shift ;;
    --calib-data)
      echo "$prog: note: --calib-data is now --int8-data (the old spelling is accepted for this release)" >&2
      need_value "$1" $#; calib=$2; shift ;;
    --max-batch) need_value "$1" $#; positive_int "$1" "$2"; max_batch=$2; shift ;;
    --frames) need_value "$1" $#; positive_int "$1" "$2"; frames=$2; shift ;;
    --size) need_value "$1" $#; positive_int "$1" "$2"; size=$2; shift ;;
    --compact) compact=1 ;;
    --pose-imgsz) need_value "$1" $#; positive_int "$1" "$2"; pose_imgsz=$2; shift ;;
    --pose-workspace)
      need_value "$1" $#
      [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || usage_error "$1 $2: not a number of GiB"
      pose_workspace=$2; shift ;;
    --no-bench) bench=0 ;;
    --) shift; positional+=("$@"); break ;;
    -*) usage_error "unknown option $1" ;;
    *) positional+=("$1") ;;
  esac
  shift
done

(( ${#positional[@]} == 3 )) || usage_error "expected CHECKPOINT POSE_MODEL OUT_DIR, got ${#positional[@]} argument(s)"
ckpt=${positional[0]}
pose=${positional[1]}
out=${positional[2]}

[[ -f $ckpt ]] || usage_error "checkpoint $ckpt: no such file"
[[ -f $pose ]] || usage_error "pose model $pose: no such file"
[[ $pose == *.pt ]] || usage_error "pose model $pose: yolo export needs the .pt weights, not an exported model"
if (( int8 )); then
  [[ -n $calib ]] || usage_error "--int8 needs --int8-data CACHE (a cache made by edgeact prep)"
  [[ -e $calib ]] || usage_error "--int8-data $calib: no such file or folder"
elif [[ -n $calib ]]; then
  usage_error "--int8-data is only used with --int8"
fi

command -v edgeact >/dev/null 2>&1 || die "no 'edgeact' on PATH (activate the venv it is installed in)"
command -v yolo >/dev/null 2>&1 || die "no 'yolo' on PATH (ultralytics is not installed in this environment)"

# TensorRT 11 has no FP16 builder flag: ultralytics bakes FP16 into the pose ONNX with NVIDIA ModelOpt
# first, and must not pip-install it mid-build (YOLO_AUTOINSTALL=false on devices and in the image).
python=${EDGEACT_PYTHON:-python3}
trt_version=$("$python" -c 'import tensorrt; print(tensorrt.__version__)' 2>/dev/null || true)
if [[ ${trt_version%%.*} =~ ^[0-9]+$ ]] && (( ${trt_version%%.*} >= 11 )) \
    && ! "$python" -c 'import modelopt.onnx' >/dev/null 2>&1; then
  die "TensorRT $trt_version: the FP16 pose engine needs NVIDIA ModelOpt; install it first:
  pip install 'nvidia-modelopt[onnx]'"
fi

# TensorRT builds for the GPU it runs on, so building anywhere else only yields engines that fail to load.
gpu=""
if [[ -r /etc/nv_tegra_release ]]; then
  gpu="Jetson, $(head -n 1 /etc/nv_tegra_release | sed 's/^# *//')"
elif command -v nvidia-smi >/dev/null 2>&1 && smi=$(nvidia-smi -L 2>/dev/null) && [[ -n $smi ]]; then
  gpu=${smi%%$'\n'*}
elif command -v python3 >/dev/null 2>&1 \
    && name=$(python3 -c 'import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name(0))' 2>/dev/null); then
  gpu=$name  # inside containers neither nv_tegra_release nor nvidia-smi may be present
fi
if [[ -z $gpu ]]; then
  die "no NVIDIA GPU found (no /etc/nv_tegra_release, nvidia-smi missing or failing, torch sees no CUDA device).
TensorRT engines only run on the GPU and TensorRT version that built them: run this script on the Jetson
(or GPU machine) that will run edgeact live, inside the same environment or container."
fi
power=""
if command -v nvpmodel >/dev/null 2>&1; then
  power=$(nvpmodel -q 2>/dev/null | head -n 1 || true)
fi
echo "$prog: building on: $gpu${power:+ ($power)}"

mkdir -p "$out"

# --- classifier ------------------------------------------------------------------------------
ckpt_name=${ckpt##*/}
engine="$out/${ckpt_name%.*}.engine"
if (( int8 )); then precision=int8; elif (( fp16 )); then precision=fp16; else precision=fp32; fi
onnx="$out/${ckpt_name%.*}.$precision.onnx"
onnx_cmd=(edgeact export --model "$ckpt" --format onnx --out "$onnx")
case $precision in
  int8) onnx_cmd+=(--int8 --int8-data "$calib") ;;
  fp16) onnx_cmd+=(--fp16) ;;
esac
[[ -n $frames ]] && onnx_cmd+=(--frames "$frames")
[[ -n $size ]] && onnx_cmd+=(--size "$size")
(( compact )) && onnx_cmd+=(--compact)
echo "+ ${onnx_cmd[*]}"
"${onnx_cmd[@]}"
[[ -f $onnx ]] || die "edgeact export did not write $onnx"
# The engine takes its precision, input shape and metadata from the ONNX.
export_cmd=(edgeact export --model "$onnx" --format engine --out "$engine" --max-batch "$max_batch")
echo "+ ${export_cmd[*]}"
"${export_cmd[@]}"
[[ -f $engine && -f $engine.json ]] || die "edgeact export did not write $engine and its metadata $engine.json"

# --- pose --------------------------------------------------------------------------------------
# yolo export writes <stem>.engine beside the weights, so the weights are copied into OUT_DIR first.
pose_name=${pose##*/}
pose_pt="$out/$pose_name"
[[ $pose -ef $pose_pt ]] || cp -f "$pose" "$pose_pt"
pose_engine="$out/${pose_name%.pt}.engine"
# Recent ultralytics releases replace half=True with quantize=16 (half= still works, with a warning).
yolo_cfg=$(yolo cfg 2>/dev/null || true)
if grep -q '^quantize:' <<<"$yolo_cfg"; then pose_precision=quantize=16; else pose_precision=half=True; fi
pose_cmd=(yolo export "model=$pose_pt" format=engine "$pose_precision" "imgsz=$pose_imgsz" device=0)
[[ -n $pose_workspace ]] && pose_cmd+=("workspace=$pose_workspace")
echo "+ ${pose_cmd[*]}"
"${pose_cmd[@]}"
[[ -f $pose_engine ]] || die "yolo export did not write $pose_engine"

# --- benchmarks --------------------------------------------------------------------------------
if (( bench )); then
  batches=1
  (( max_batch > 1 )) && batches="1,$max_batch"
  bench_cmd=(edgeact bench model --model "$engine" --batch-size "$batches" --json "$out/bench-model.json")
  echo "+ ${bench_cmd[*]}"
  "${bench_cmd[@]}"
  bench_cmd=(edgeact bench pose --pose-model "$pose_engine" --json "$out/bench-pose.json")
  echo "+ ${bench_cmd[*]}"
  "${bench_cmd[@]}"
fi

cat <<EOF

Engines built on: $gpu${power:+ ($power)}${trt_version:+ with TensorRT $trt_version}
  classifier: $engine ($precision, built from $onnx)
              $engine.json (metadata: keep it beside the engine)
  pose:       $pose_engine
EOF
if (( bench )); then
  echo "  benchmarks: $out/bench-model.json $out/bench-pose.json"
fi
cat <<EOF
Run:
  edgeact live --camera 0 --model $engine --pose-model $pose_engine --device cuda
EOF
