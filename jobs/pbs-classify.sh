#!/bin/bash
# Classify a big trajectory on a PBS cluster with a scheduler-file Dask cluster.
#   qsub -v TOP=system.data,TRAJ=traj.dcd,OUT=run.zarr jobs/pbs-classify.sh
# Workers retire before the wall-clock limit (--lifetime); unfinished tasks are rescheduled
# and finished chunks are kept. Resubmit with RESUME=--resume if the job itself ends early.
#PBS -N lessdask
#PBS -l select=2:ncpus=32:mpiprocs=32
#PBS -l walltime=04:00:00
set -euo pipefail
cd "$PBS_O_WORKDIR"
SCHED=$PBS_O_WORKDIR/scheduler-$PBS_JOBID.json
dask scheduler --scheduler-file "$SCHED" &
sleep 10
mpiexec -n 63 dask worker --scheduler-file "$SCHED" --nthreads 1 --memory-limit 3GB \
        --lifetime 230m --lifetime-stagger 5m --lifetime-restart &
sleep 20
lessdask classify "$TOP" "$TRAJ" -o "$OUT" --scheduler-file "$SCHED" --atoms-per-chunk 250000 ${RESUME:-}
