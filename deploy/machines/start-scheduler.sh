#!/usr/bin/env bash
# Start the Dask scheduler for a flyte_dask GPU cluster.
#   deploy/machines/start-scheduler.sh [PORT]            (default 8786; dashboard on 8787)
set -euo pipefail
port=${1:-8786}
exec python3 -m dask scheduler --port "$port" --dashboard-address ":${DASHBOARD_PORT:-8787}"
