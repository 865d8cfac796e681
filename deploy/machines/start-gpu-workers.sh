#!/usr/bin/env bash
# Start one Dask worker per GPU on this machine (dask-cuda), each advertising its GPU
# to flyte_dask as Dask resources GPU=1 and GPU-<MODEL>=1 (read from NVML by the
# flyte_dask.gpu_preload preload, so nothing is typed by hand).
#   deploy/machines/start-gpu-workers.sh tcp://SCHEDULER:8786 [THREADS_PER_GPU]
# THREADS_PER_GPU (default 4) bounds how many fractional-GPU tasks share a GPU at once
# (Resources(gpu=0.25) packs four). Without dask-cuda, the fallback line below starts a
# plain worker per GPU pinned with CUDA_VISIBLE_DEVICES.
set -euo pipefail
scheduler=${1:?usage: start-gpu-workers.sh tcp://SCHEDULER:8786 [THREADS_PER_GPU]}
threads=${2:-4}
if python3 -c "import dask_cuda" 2>/dev/null; then
  exec python3 -m dask cuda worker "$scheduler" --nthreads "$threads" --preload flyte_dask.gpu_preload
fi
echo "dask-cuda not installed: starting one plain dask worker per GPU" >&2
count=$(python3 -c "from flyte_dask.gpu import probe; print(len(probe().devices()))")
for ((i = 0; i < count; i++)); do
  CUDA_VISIBLE_DEVICES=$i python3 -m dask worker "$scheduler" --nthreads "$threads" --preload flyte_dask.gpu_preload &
done
wait
