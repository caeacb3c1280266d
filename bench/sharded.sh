#!/usr/bin/env bash
# Run the task-addition grid as N parallel shards, one process each, then merge them into one result.
# For a many-core (or GPU) machine; on the 2-core dev machine, plain `python -m bench task_addition` is the way.
#
#   bench/sharded.sh N WORKDIR [task_addition options...]
#
# Each shard starts from a copy of bench/results/task_addition.json with --resume, so finished cells are
# skipped and only the cells with work left are dealt out. Shard k writes WORKDIR/shard_k/ (its log beside it);
# the merged result lands in WORKDIR/merged/. A shard that is killed keeps every cell it finished: run the
# same command again to go on. SHARD_TIMEOUT=SECONDS kills shards still running after that long.
set -u
n=$1; work=$2; shift 2
py=${PYTHON:-python3}
mkdir -p "$work/merged"
pids=()
for ((k = 0; k < n; k++)); do
    dir="$work/shard_$k"
    mkdir -p "$dir"
    [ -f "$dir/task_addition.json" ] || cp bench/results/task_addition.json "$dir/"
    OMP_NUM_THREADS=1 timeout "${SHARD_TIMEOUT:-0}" $py -m bench task_addition --resume --skip-speed --threads 1 --rf-jobs 2 --budget-minutes 0 \
        --shard "$k/$n" --results-dir "$dir" "$@" >>"$dir/log.txt" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
cp bench/results/task_addition.json "$work/merged/"
dirs=$(for ((k = 0; k < n; k++)); do printf '%s,' "$work/shard_$k"; done)
$py -m bench task_addition --merge "${dirs%,}" --results-dir "$work/merged" || status=1
exit $status
