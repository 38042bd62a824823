#!/usr/bin/env bash
# Side by side: the serving benchmark's local loads for an older commit and for this tree, alternated
# ROUNDS times so that the machine's slow and fast minutes fall on both. Each run prints its own table
# and JSON into LOGS (default /tmp/serving-ab). The older commit runs from a git worktree on this venv.
#   bash benchmarks/serving_ab.sh OLD_COMMIT [ROUNDS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)
old=${1:?an older commit to compare with}; rounds=${2:-2}; seconds=${3:-20}
logs=${LOGS:-/tmp/serving-ab}; tree="$logs/worktree"
mkdir -p "$logs"
git worktree remove --force "$tree" 2>/dev/null || true
git worktree add --quiet --detach "$tree" "$old"
python=$here/.venv/bin/python
for round in $(seq "$rounds"); do
  # Commits before the one import name (`spend`) import their folders from the worktree's root; later ones
  # through benchmarks/older_tree (the venv's editable install would give them this tree's packages).
  (cd "$tree" && SPEND_AB_TREE="$tree" PYTHONPATH="$here/benchmarks/older_tree:$tree" \
    "$python" benchmarks/serving.py --env local --seconds "$seconds" --json > "$logs/old-$round.log" 2>&1)
  "$python" benchmarks/serving.py --env local --seconds "$seconds" --json > "$logs/new-$round.log" 2>&1
done
git worktree remove --force "$tree"
grep -h -E "echo endpoint|local: \(a\) fraud|start to ready" "$logs"/old-*.log "$logs"/new-*.log
