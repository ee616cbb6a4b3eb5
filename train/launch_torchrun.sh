#!/usr/bin/env bash
# Launch examples for `edgeact train` with PyTorch DDP through torchrun. Each process trains on
# its shard of the training split (DistributedSampler), evaluates the small validation set
# itself, and only rank 0 writes checkpoints and logs; rerunning the same command resumes.
# One process per NVIDIA GPU: counted with nvidia-smi, or set GPUS=N.
#
#   single node, all its GPUs:   bash train/launch_torchrun.sh ntu60-xsub /data/cache/ntu
#   multi-node (run on each):    NNODES=2 NODE_RANK=0 MASTER=node0:29500 bash train/launch_torchrun.sh ...
set -euo pipefail
bench=${1:?benchmark, e.g. ntu60-xsub}
cache=${2:?cache folder made by edgeact prep}
one_device="edgeact train --recipe train/$bench.yaml --data $cache"
gpus=${GPUS:-}
if [ -z "$gpus" ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "launch_torchrun.sh: nvidia-smi not found, so there are no NVIDIA GPUs to count; this launcher starts" \
         "one training process per GPU. Set GPUS=N to launch N anyway, or train on this machine's one" \
         "device: $one_device" >&2
    exit 1
  fi
  if ! listing=$(nvidia-smi -L); then
    echo "launch_torchrun.sh: nvidia-smi failed (its message is above), so the GPUs cannot be counted;" \
         "fix the driver or set GPUS=N" >&2
    exit 1
  fi
  gpus=$(grep -c '^GPU ' <<<"$listing" || true)
  if [ "$gpus" -lt 1 ]; then
    echo "launch_torchrun.sh: nvidia-smi lists no GPU; set GPUS=N, or train on the CPU: $one_device --device cpu" >&2
    exit 1
  fi
fi
if [ -n "${NNODES:-}" ]; then
  exec torchrun --nnodes "$NNODES" --node-rank "${NODE_RANK:?}" --nproc-per-node "$gpus" \
    --rdzv-backend c10d --rdzv-endpoint "${MASTER:?host:port of node 0}" \
    -m edgeact train --recipe "train/$bench.yaml" --data "$cache" --out "runs/$bench" --device cuda
fi
# batch_size in the recipe is per process: 8 GPUs x 16 clips = 128 clips per step
exec torchrun --standalone --nproc-per-node "$gpus" \
  -m edgeact train --recipe "train/$bench.yaml" --data "$cache" --out "runs/$bench" --device cuda
