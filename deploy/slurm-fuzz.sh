#!/usr/bin/env bash
# Fault fuzzing as a Slurm job array: one shard per array task. `--shard auto` reads
# SLURM_ARRAY_TASK_ID, _MIN and _COUNT (so --array=0-99 and 1-100 both work).
#
#   sbatch deploy/slurm-fuzz.sh
#   # when every task has finished (or: sbatch --dependency=afterany:JOBID ...):
#   armhil merge results/shard-*.json --json results/fuzz.json
#
#SBATCH --job-name=armhil-fuzz
#SBATCH --array=0-99
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
#SBATCH --output=results/slurm-%A_%a.out
set -uo pipefail
mkdir -p results
armhil fuzz-faults scenes/arm6.ron --seeds 1..100000 --shard auto --jobs "${SLURM_CPUS_PER_TASK:-2}" --json "results/shard-${SLURM_ARRAY_TASK_ID}.json"
# 1 = a seed failed (it is in the JSON, for the merge); anything else is a real error.
status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 1 ]
