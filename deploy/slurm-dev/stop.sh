#!/usr/bin/env bash
# Stop the one-node SLURM that start.sh started (by PID), and its munged.
state=${1:-/tmp/flyte-dask-slurm}
scancel --user=root >/dev/null 2>&1 || true
for pidfile in "$state/run/slurmd.pid" "$state/run/slurmctld.pid"; do
  [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
done
pkill -x munged 2>/dev/null || true
exit 0
