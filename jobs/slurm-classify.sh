#!/bin/bash
# Classify a big trajectory on a SLURM cluster with a scheduler-file Dask cluster.
#   sbatch jobs/slurm-classify.sh TOPOLOGY TRAJECTORY OUTPUT.zarr
# One task runs the scheduler, the others run one single-threaded worker per core.
# Workers retire before the wall-clock limit (--lifetime, staggered so they do not all
# leave at once); the scheduler reschedules their unfinished tasks, finished chunks stay in
# the store, and if the whole job ends early, resubmit with --resume appended below.
#SBATCH --job-name=lessdask
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --time=04:00:00
set -euo pipefail
TOP=$1; TRAJ=$2; OUT=$3
SCHED=${SLURM_SUBMIT_DIR}/scheduler-${SLURM_JOB_ID}.json
srun --ntasks=1 --nodes=1 dask scheduler --scheduler-file "$SCHED" --interface ib0 &
sleep 10
srun --ntasks=$((SLURM_NTASKS - 1)) dask worker --scheduler-file "$SCHED" --nthreads 1 \
     --memory-limit 3GB --lifetime 230m --lifetime-stagger 5m --lifetime-restart --interface ib0 &
sleep 20
lessdask classify "$TOP" "$TRAJ" -o "$OUT" --scheduler-file "$SCHED" --atoms-per-chunk 250000 ${RESUME:-}
