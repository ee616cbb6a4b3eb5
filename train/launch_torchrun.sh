#!/usr/bin/env bash
# Launch examples for `edgeact train` with PyTorch DDP through torchrun. Each process trains on
# its shard of the training split (DistributedSampler), evaluates the small validation set
# itself, and only rank 0 writes checkpoints and logs; rerunning the same command resumes.
#
#   single node, all its GPUs:   bash train/launch_torchrun.sh ntu60-xsub /data/cache/ntu
#   multi-node (run on each):    NNODES=2 NODE_RANK=0 MASTER=node0:29500 bash train/launch_torchrun.sh ...
set -euo pipefail
bench=${1:?benchmark, e.g. ntu60-xsub}
cache=${2:?cache folder made by edgeact prep}
gpus=${GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l)}
gpus=${gpus:-1}
if [ -n "${NNODES:-}" ]; then
  exec torchrun --nnodes "$NNODES" --node-rank "${NODE_RANK:?}" --nproc-per-node "$gpus" \
    --rdzv-backend c10d --rdzv-endpoint "${MASTER:?host:port of node 0}" \
    -m edgeact train --recipe "train/$bench.yaml" --data "$cache" --out "runs/$bench" --device cuda
fi
# batch_size in the recipe is per process: 8 GPUs x 16 clips = 128 clips per step
exec torchrun --standalone --nproc-per-node "$gpus" \
  -m edgeact train --recipe "train/$bench.yaml" --data "$cache" --out "runs/$bench" --device cuda
