#!/usr/bin/env bash
# Run the edgeact image (deploy/Dockerfile) on a Jetson; arguments go to edgeact in the container.
#
#   deploy/docker-run.sh                    # the image's default: edgeact live --demo
#   deploy/docker-run.sh live --camera 0 --model /models/best.engine \
#       --pose-model /models/yolo26n-pose.engine --jsonl /data/actions.jsonl --quiet
#   EDGEACT_ENTRYPOINT=edgeact-build-engines deploy/docker-run.sh \
#       /models/best.pt /models/yolo26n-pose.pt /models     # build the engines in the container
#
# Engines must be built by the TensorRT that loads them: when edgeact runs in this container, build
# them in this container too (last example), not on the host.
#
# Settings (environment variables):
#   EDGEACT_IMAGE          image to run (default edgeact:jetson)
#   EDGEACT_MODELS         host folder mounted at /models (default ./engines)
#   EDGEACT_DATA           host folder mounted at /data, for JSONL output (default ./edgeact-data)
#   EDGEACT_VIDEO_DEVICES  camera device nodes to pass in (default /dev/video0; missing ones are skipped)
#   EDGEACT_ENTRYPOINT     another program in the image instead of edgeact, e.g. edgeact-build-engines
set -euo pipefail

image=${EDGEACT_IMAGE:-edgeact:jetson}
models=${EDGEACT_MODELS:-$PWD/engines}
data=${EDGEACT_DATA:-$PWD/edgeact-data}
mkdir -p "$models" "$data"

run_args=(
  --rm
  --runtime nvidia            # the Jetson GPU (NVIDIA Container Runtime, installed with JetPack)
  --ipc=host                  # torch shares memory between processes through /dev/shm
  --volume "$(cd "$models" && pwd):/models"
  --volume "$(cd "$data" && pwd):/data"
)
for dev in ${EDGEACT_VIDEO_DEVICES:-/dev/video0}; do
  if [[ -e $dev ]]; then
    run_args+=(--device "$dev")
  else
    echo "docker-run.sh: $dev not found, not passed to the container" >&2
  fi
done
if [[ -n ${EDGEACT_ENTRYPOINT:-} ]]; then
  run_args+=(--entrypoint "$EDGEACT_ENTRYPOINT")
fi
if [[ -t 0 && -t 1 ]]; then
  run_args+=(--interactive --tty)  # Ctrl-C reaches edgeact
fi

exec docker run "${run_args[@]}" "$image" "$@"
