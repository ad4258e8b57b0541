#!/bin/bash
# Single-node SLURM for lessdask's tests (tests/test_slurm.py), as .ci/run uses it.
# Debian 12, root, no systemd: start | stop
#   sudo .ci/slurm-single-node.sh start    # ~40 s the first time (apt), ~1 s after
# start: installs if needed, writes /etc/slurm/slurm.conf, starts munged, slurmctld, slurmd,
# waits until the node is idle; PIDs in /run/lessdask-slurm/*.pid.
set -euo pipefail
D=/run/lessdask-slurm
case "${1:-start}" in
start)
  command -v slurmctld >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge; }
  mkdir -p $D /run/munge /var/spool/slurmctld-ci /var/spool/slurmd /var/log/slurm
  chown munge:munge /run/munge; chown slurm:slurm /var/spool/slurmctld-ci /var/log/slurm
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 2>/dev/null; \
      chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  CPUS=$(nproc); MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 85 / 100 ))
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld-ci
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( MEM / CPUS ))
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  setsid runuser -u munge -- /usr/sbin/munged --foreground >$D/munged.log 2>&1 & echo $! >$D/munged.pid
  for i in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
  pgrep -P "$(cat $D/munged.pid)" >$D/munged-child.pid || true
  setsid /usr/sbin/slurmctld -D -i >$D/slurmctld.log 2>&1 & echo $! >$D/slurmctld.pid
  setsid /usr/sbin/slurmd -D -N localhost >$D/slurmd.log 2>&1 & echo $! >$D/slurmd.pid
  end=$((SECONDS + 30))
  while [ $SECONDS -lt $end ]; do
    kill -0 "$(cat $D/slurmctld.pid)" 2>/dev/null || break
    timeout 5 sinfo -h -o %t 2>/dev/null | grep -qx idle && exit 0; sleep 0.2
  done
  echo "slurm did not come up; see $D/*.log" >&2; exit 1 ;;
stop)
  for p in slurmd slurmctld munged-child munged; do
    [ -s $D/$p.pid ] || continue; pid=$(cat $D/$p.pid); kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true; rm -f $D/$p.pid   # slurmd ignores TERM while it cannot register
  done ;;
esac
