#!/bin/sh
# The estimator comparison of docs/estimators.md on fixed-binarization MNIST: every estimator trains the
# same bound (IWAE_5) for the same budget, 1000 steps of 50 images (5 epochs of a 10000-image subset, Adam
# 1e-3, seed 0), one thread per job, three jobs at a time on the shared 2-core machine (load 20+); then every
# run is scored by the IWAE_1000 estimate on test images 0, 20, 40, ... (500 images). Gradient variances:
# docs/scripts/estimator_variance.py.
set -e
export TFGEN_DATA_DIR=${TFGEN_DATA_DIR:-/work/shared/data} TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
RUNS=${RUNS:-runs/estimators}
COMMON="--dataset binarized_mnist --train-size 10000 --objective iwae --k 5 --epochs 5 --batch-size 50"
COMMON="$COMMON --learning-rate 1e-3 --max-minutes 60 --seed 0 --verbose 2"
TFGEN="python -m zoo.cli"
mkdir -p "$RUNS"
{
  for e in reinforce reinforce_ma nvil vimco taylor concrete; do
    echo "$TFGEN train sbn $COMMON --eval-k 100 --test-size 1000 --estimator $e --out $RUNS/sbn_$e > $RUNS/sbn_$e.log 2>&1"
  done
  for e in total path dreg vimco; do
    echo "$TFGEN train iwae $COMMON --eval-k 10 --estimator $e --out $RUNS/iwae_$e > $RUNS/iwae_$e.log 2>&1"
  done
} | xargs -P 3 -I CMD sh -c "CMD"
for run in "$RUNS"/*/; do
  $TFGEN evaluate "$run" --k 1000 --every-nth 20 --verbose 0 > "${run%/}.eval.log" 2>&1
done
