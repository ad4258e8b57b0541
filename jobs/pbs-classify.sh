#!/bin/bash
# Classify a trajectory inside one PBS allocation: the Dask scheduler and the lessdask client run in
# this script, workers (one single-threaded process per CPU) on every node of the job via pbsdsh.
#
#   qsub -v LESSDASK_ARGS="TOPOLOGY [TRAJECTORY ...] -o OUT.zarr [classify options]" jobs/pbs-classify.sh
#
# (PBS passes no arguments to batch scripts, and -v splits at commas: keep commas out of the arguments.)
# A self-describing trajectory (LAMMPS dump, extended XYZ) is given alone. Edit the #PBS lines for
# your site; the memory each worker may use is the job's mem divided by its ncpus.
#
# Environment (qsub -v NAME=value,...):
#   LESSDASK_VENV       Python environment holding lessdask (default: $PBS_O_WORKDIR/.venv if it exists)
#   LESSDASK_INTERFACE  network interface for scheduler and workers, present on every node
#                       (default: the one carrying the first node's default route)
#   LESSDASK_TLS=0      no TLS (default: TLS with a key pair made for this job, in its run folder)
#
# On a shared file system: the trajectory, the model file, the output store (its folder) and
# $PBS_O_WORKDIR (run folder with the scheduler file, TLS key and worker start script).
# At the walltime PBS sends SIGTERM: lessdask keeps the finished chunks and says so; submit again
# with --resume added to LESSDASK_ARGS to finish (the message says so too).
# Untested here (no PBS at hand); jobs/slurm-classify.sh is the tested twin.
#PBS -N lessdask
#PBS -l select=2:ncpus=32:mem=96gb
#PBS -l walltime=04:00:00
#PBS -j oe
set -uo pipefail
cd "${PBS_O_WORKDIR:-$PWD}"

read -r -a ARGS <<<"${LESSDASK_ARGS:-}"
[ ${#ARGS[@]} -gt 0 ] || { echo "usage: qsub -v LESSDASK_ARGS=\"TOPOLOGY [TRAJECTORY ...] -o OUT.zarr\" $0" >&2; exit 2; }
VENV=${LESSDASK_VENV:-$PWD/.venv}
# shellcheck disable=SC1091
[ -e "$VENV/bin/activate" ] && source "$VENV/bin/activate"
if ! python -c "import lessdask" 2>/dev/null; then
  echo "lessdask: error: 'python' ($(command -v python)) cannot import lessdask in this job; set LESSDASK_VENV" \
       "to the environment that has it (qsub -v LESSDASK_VENV=/path/to/venv,...)" >&2
  exit 2
fi

RUN=$PWD/lessdask-run-${PBS_JOBID:-$$}
mkdir -m 700 -p "$RUN"
SCHED=$RUN/scheduler.json
read -r IFACE IP < <(python -c 'import sys; from lessdask.cluster import resolve_interface
from lessdask.errors import ClusterError
try: print(*resolve_interface(sys.argv[1] or None, "LESSDASK_INTERFACE"))
except ClusterError as e: sys.exit(f"lessdask: error: {e}")' "${LESSDASK_INTERFACE:-}") || exit 2
PROTOCOL=tcp
TLS_ENV=""
if [ "${LESSDASK_TLS:-1}" != 0 ]; then
  TLS_ENV=$(python -c 'import sys, shlex; from lessdask.cluster import write_tls_credentials
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in write_tls_credentials(sys.argv[1]).items()))' "$RUN")
  eval "$TLS_ENV"
  PROTOCOL=tls
fi
# per worker: the job's memory over its CPUs (qstat's Resource_List), so workers stay inside the request
MEM=$(qstat -f "${PBS_JOBID:-}" 2>/dev/null | python -c 'import sys, re; from dask.utils import parse_bytes
t = sys.stdin.read(); m = re.search(r"Resource_List.mem = (\S+)", t); n = re.search(r"Resource_List.ncpus = (\d+)", t)
print(f"{parse_bytes(m.group(1)) // int(n.group(1))}" if m and n else "auto")')
NCPUS=${NCPUS:-$(nproc)}

cleanup() {   # workers retire, then the scheduler stops, then this run's folder goes
  if [ -z "${STOPPED:-}" ]; then   # after SIGTERM PBS kills the job kill_delay (10 s) later: no time to retire
    timeout 20 python -c 'import sys; from distributed import Client
Client(scheduler_file=sys.argv[1], timeout=10).retire_workers(close_workers=True)' "$SCHED" >/dev/null 2>&1
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

# pbsdsh starts one copy per node without this environment: the start script carries it
cat > "$RUN/worker.sh" <<EOF
#!/bin/bash
cd "$PWD"
[ -e "$VENV/bin/activate" ] && source "$VENV/bin/activate"
$TLS_ENV
exec python -m distributed.cli.dask_worker --scheduler-file "$SCHED" --nworkers "$NCPUS" --nthreads 1 \
  --memory-limit "$MEM" --interface "$IFACE" --local-directory "\${TMPDIR:-/tmp}"
EOF
chmod 700 "$RUN/worker.sh"
pbsdsh -u "$RUN/worker.sh" &
WORKERS=$!

python -m lessdask.cli classify "${ARGS[@]}" --scheduler-file "$SCHED" &
CLIENT=$!
wait "$CLIENT"; RC=$?
while kill -0 "$CLIENT" 2>/dev/null; do wait "$CLIENT"; RC=$?; done   # a trapped signal ends 'wait' early
cleanup
exit "$RC"
