#!/usr/bin/env bash
# A one-node SLURM on this host, for the SLURM test (run as root; idempotent):
# munge, slurmctld and slurmd on the local host name, no accounting, and two GPU gres
# backed by empty files, so jobs asking for --gpus=1 are schedulable on a CPU machine.
# Finished jobs' records are kept (MinJobAge=43200): the test reads every job it submitted
# from `scontrol show job`, and the default purge (300 s) loses the first ones of a DAG
# that runs longer. A cluster already up with another configuration is restarted.
# Needs Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`).
set -euo pipefail
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
FAKE_GPUS=(/var/lib/bnpipe-fake-gpu0 /var/lib/bnpipe-fake-gpu1) # two jobs at once on 2 cores

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- munged
touch "${FAKE_GPUS[@]}"
configured() { { cat /etc/slurm/slurm.conf /etc/slurm/gres.conf 2>/dev/null || true; } | md5sum; }
BEFORE=$(configured)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=bnpipe
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=43200
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
for gpu in "${FAKE_GPUS[@]}"; do echo "NodeName=$HOST Name=gpu File=$gpu"; done > /etc/slurm/gres.conf
if [ "$BEFORE" != "$(configured)" ]; then
  # a node's gres count changes only with a restart of its daemons
  pkill -x slurmd || true
  pkill -x slurmctld || true
  for _ in $(seq 60); do
    pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
    sleep 0.5
  done
  if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    echo "slurm: the old slurmctld/slurmd did not stop within 30 s" >&2; exit 1
  fi
fi
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm: up on $HOST ($CPUS CPUs, gres gpu:2)"; exit 0
  fi
  sleep 1
done
echo "slurm: the node did not come up; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1
