#!/bin/bash
# Classify a trajectory inside one SLURM allocation: the Dask scheduler and the lessdask client
# run in this batch step, one single-threaded worker per task runs in an overlapping srun step.
#
#   sbatch jobs/slurm-classify.sh TOPOLOGY [TRAJECTORY ...] -o OUT.zarr [other classify options]
#
# A self-describing trajectory (LAMMPS dump, extended XYZ) is given alone. Edit the #SBATCH lines
# for your site (partition, account, nodes, tasks, memory, time), or override them with SBATCH_*
# environment variables; options given on the sbatch command line are not carried over when the
# job resubmits itself.
#
# Environment (set it before sbatch; SLURM passes your environment to the job):
#   LESSDASK_VENV       Python environment holding lessdask (default: the one active at sbatch time)
#   LESSDASK_INTERFACE  network interface for scheduler and workers, present on every node
#                       (default: the one carrying the first node's default route)
#   LESSDASK_TLS=0      no TLS (default: TLS with a key pair made for this job, in its run folder)
#   LESSDASK_RESUBMIT   times the job may resubmit itself with --resume when the walltime (or scancel
#                       of this job) stops it before the run is done (default 10; 0: never)
#
# On a shared file system: the trajectory, the model file, the output store (its folder) and the
# submit directory (run folder with the scheduler file and TLS key, and the job's output file).
# A worker step that ends (scancel JOBID.STEP, a node failure) is started again; workers that
# leave cost only their unfinished chunks. At the walltime SLURM sends SIGTERM: lessdask keeps the
# finished chunks, says so, and this script submits itself again with --resume.
#SBATCH --job-name=lessdask
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=3G
#SBATCH --time=04:00:00
#SBATCH --output=lessdask-%j.out
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: sbatch $0 TOPOLOGY [TRAJECTORY ...] -o OUT.zarr [classify options]" >&2; exit 2; }
# shellcheck disable=SC1091
[ -n "${LESSDASK_VENV:-}" ] && source "$LESSDASK_VENV/bin/activate"
if ! python -c "import lessdask" 2>/dev/null; then
  echo "lessdask: error: 'python' ($(command -v python)) cannot import lessdask in this job; set LESSDASK_VENV" \
       "to the environment that has it (sbatch --export=ALL,LESSDASK_VENV=/path/to/venv ...)" >&2
  exit 2
fi

RUN=${SLURM_SUBMIT_DIR:-$PWD}/lessdask-run-${SLURM_JOB_ID}
# a job before this one in a resubmitted chain may have been killed (KillWait) before it removed its run folder
case "${LESSDASK_PREVIOUS_RUN:-}" in */lessdask-run-[0-9]*) rm -rf "$LESSDASK_PREVIOUS_RUN" ;; esac
mkdir -m 700 -p "$RUN"
SCHED=$RUN/scheduler.json
# interface and its address on this node; a wrong LESSDASK_INTERFACE is reported with the ones there are
read -r IFACE IP < <(python -c 'import sys; from lessdask.cluster import resolve_interface
from lessdask.errors import ClusterError
try: print(*resolve_interface(sys.argv[1] or None, "LESSDASK_INTERFACE"))
except ClusterError as e: sys.exit(f"lessdask: error: {e}")' "${LESSDASK_INTERFACE:-}") || exit 2
PROTOCOL=tcp
if [ "${LESSDASK_TLS:-1}" != 0 ]; then
  eval "$(python -c 'import sys, shlex; from lessdask.cluster import write_tls_credentials
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in write_tls_credentials(sys.argv[1]).items()))' "$RUN")"
  PROTOCOL=tls
fi
# worker memory limit = what SLURM gives each task (per CPU x CPUs per task, or per node / tasks per node)
if [ -n "${SLURM_MEM_PER_CPU:-}" ]; then
  MEM=$((SLURM_MEM_PER_CPU * ${SLURM_CPUS_PER_TASK:-1}))MiB
elif [ -n "${SLURM_MEM_PER_NODE:-}" ]; then
  MEM=$((SLURM_MEM_PER_NODE / ${SLURM_NTASKS_PER_NODE:-${SLURM_NTASKS:-1}}))MiB
else
  MEM=auto
fi

cleanup() {   # workers retire (the worker loop ends), then the scheduler stops, then this run's folder goes
  touch "$RUN/done"
  if [ -z "${STOPPED:-}" ]; then   # after SIGTERM SLURM kills the job KillWait (30 s) later: no time to retire
    timeout 20 python -c 'import sys; from distributed import Client
Client(scheduler_file=sys.argv[1], timeout=10).retire_workers(close_workers=True)' "$SCHED" >/dev/null 2>&1
    for _ in $(seq 50); do kill -0 "${WORKERS:-}" 2>/dev/null || break; sleep 0.2; done
  fi
  for p in ${WORKERS:-} ${SCHEDULER:-}; do kill "$p" 2>/dev/null; done
  for _ in $(seq 25); do kill -0 ${WORKERS:-} ${SCHEDULER:-} 2>/dev/null || break; sleep 0.2; done
  for p in ${WORKERS:-} ${SCHEDULER:-}; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$RUN"
}
trap 'STOPPED=1' TERM INT   # the client gets the signal itself; this shell waits for its message

python -m distributed.cli.dask_scheduler --scheduler-file "$SCHED" --protocol "$PROTOCOL" --interface "$IFACE" \
  --port 0 --dashboard-address "$IP:0" &
SCHEDULER=$!
for _ in $(seq 600); do   # ready when the scheduler has written its file (at most 2 minutes)
  [ -s "$SCHED" ] && break
  kill -0 "$SCHEDULER" 2>/dev/null || { echo "lessdask: error: the Dask scheduler did not start" >&2; cleanup; exit 1; }
  sleep 0.2
done
[ -s "$SCHED" ] || { echo "lessdask: error: no scheduler file $SCHED after 2 minutes" >&2; cleanup; exit 1; }
echo "lessdask: scheduler $(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' "$SCHED")"

# one worker per task; a worker step that ends early (scancel JOBID.STEP, a lost node) is started again
(
  trap 'kill ${STEP:-} 2>/dev/null; wait ${STEP:-}; exit 0' TERM   # srun passes the signal on to the workers
  while [ ! -e "$RUN/done" ]; do
    srun --overlap --ntasks="${SLURM_NTASKS:-1}" --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" --kill-on-bad-exit=0 \
      python -m distributed.cli.dask_worker --scheduler-file "$SCHED" --nthreads 1 --memory-limit "$MEM" \
      --interface "$IFACE" --local-directory "${TMPDIR:-/tmp}" &
    STEP=$!
    wait "$STEP"
    [ -e "$RUN/done" ] || { echo "lessdask: the worker step ended; starting it again" >&2; sleep 5; }
  done
) &
WORKERS=$!

python -m lessdask.cli classify "$@" --scheduler-file "$SCHED" &
CLIENT=$!
wait "$CLIENT"; RC=$?
while kill -0 "$CLIENT" 2>/dev/null; do wait "$CLIENT"; RC=$?; done   # a trapped signal ends 'wait' early

if [ "$RC" = 143 ] && [ "${LESSDASK_RESUBMIT:-10}" -gt 0 ]; then
  # stopped by SIGTERM (walltime or scancel of this job): finished chunks are kept; go on in a new job
  # the same request as this job (sbatch command-line options included), the same script, --resume
  INFO=" $(scontrol show job -o "$SLURM_JOB_ID")"
  field() { sed -n "s|.* $1=\([^ ]*\).*|\1|p" <<<"$INFO"; }
  OPTS=(--nodes="$(field NumNodes)" --ntasks="$(field NumTasks)" --cpus-per-task="$(field CPUs/Task)"
        --time="$(field TimeLimit)" --partition="$(field Partition)" --job-name="$(field JobName)")
  PER_NODE=$(field NtasksPerN:B:S:C); PER_NODE=${PER_NODE%%:*}
  [ "${PER_NODE:-0}" -gt 0 ] 2>/dev/null && OPTS+=(--ntasks-per-node="$PER_NODE")
  for kv in Account:--account MinMemoryCPU:--mem-per-cpu MinMemoryNode:--mem QOS:--qos; do
    v=$(field "${kv%%:*}"); case "$v" in ""|"(null)"|normal|0) ;; *) OPTS+=("${kv#*:}=$v") ;; esac
  done
  SCRIPT=$(field Command)
  ARGS=()
  for a in "$@"; do [ "$a" = --overwrite ] || ARGS+=("$a"); done
  case " ${ARGS[*]} " in *" --resume "*) ;; *) ARGS+=(--resume) ;; esac
  LESSDASK_RESUBMIT=$((${LESSDASK_RESUBMIT:-10} - 1)) LESSDASK_PREVIOUS_RUN=$RUN sbatch --export=ALL --dependency="afterany:$SLURM_JOB_ID" \
    "${OPTS[@]}" "$SCRIPT" "${ARGS[@]}" && echo "lessdask: resubmitted with --resume (LESSDASK_RESUBMIT=$((${LESSDASK_RESUBMIT:-10} - 1)) left)" >&2
fi
cleanup
exit "$RC"
