#!/usr/bin/env bash
# A one-node SLURM on this machine for flyte_dask's tests (run as root): munge, slurmctld and slurmd, with two
# fake GPUs declared as GRES (character devices made with mknod stand in for /dev/nvidia*, which SLURM needs).
# Usage: deploy/slurm-dev/start.sh [STATE_DIR]; stop with deploy/slurm-dev/stop.sh [STATE_DIR].
# Needs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge).
set -euo pipefail
state=${1:-/tmp/flyte-dask-slurm}
mkdir -p "$state"/{spool/ctld,spool/d,log,run,dev} /etc/slurm /run/munge /var/log/munge /var/lib/munge /etc/munge
node=$(hostname -s)
for i in 0 1; do [ -e "$state/dev/nvidia$i" ] || mknod "$state/dev/nvidia$i" c 195 "$i"; done
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged --force
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=flytedask
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/run/slurmctld.pid
SlurmdPidFile=$state/run/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
SchedulerType=sched/backfill
ReturnToService=2
SlurmdParameters=config_overrides
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=5
NodeName=$node CPUs=16 RealMemory=32000 Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
PartitionName=small Nodes=$node MaxNodes=1 MaxCPUsPerNode=2 MaxTime=INFINITE State=UP
CONF
cat > /etc/slurm/gres.conf <<CONF
NodeName=$node Name=gpu File=$state/dev/nvidia[0-1]
CONF
pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld -c  # -c: no jobs left from an earlier start
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE "idle|mixed|allocated"; then
    echo "slurm up on $node"
    exit 0
  fi
  scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
  sleep 1
done
echo "slurm did not come up; see $state/log" >&2
exit 1
