#!/usr/bin/env bash
# Start CPU-only Dask workers: flyte_dask sends CPU tasks here first, keeping GPU workers
# free for GPU tasks. They see no GPU (CUDA_VISIBLE_DEVICES is emptied).
#   deploy/machines/start-cpu-workers.sh tcp://SCHEDULER:8786 [NWORKERS] [THREADS]
set -euo pipefail
scheduler=${1:?usage: start-cpu-workers.sh tcp://SCHEDULER:8786 [NWORKERS] [THREADS]}
CUDA_VISIBLE_DEVICES= exec python3 -m dask worker "$scheduler" --nworkers "${2:-1}" --nthreads "${3:-$(nproc)}"
