#!/bin/sh
# The estimator comparison of docs/estimators.md on fixed-binarization MNIST: every estimator trains the
# same bound (IWAE_5) for the same 3 epochs (3000 steps of 50 images, Adam 1e-3, seed 0), one thread per job,
# three jobs at a time on the shared 2-core machine; then every run is scored by the IWAE_5000 estimate on
# test images 0, 10, 20, ... (1000 images). Gradient variances: docs/scripts/estimator_variance.py.
set -e
export TFGEN_DATA_DIR=${TFGEN_DATA_DIR:-/work/shared/data} TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
RUNS=${RUNS:-runs/estimators}
COMMON="--dataset binarized_mnist --objective iwae --k 5 --epochs 3 --batch-size 50 --learning-rate 1e-3"
COMMON="$COMMON --eval-k 100 --max-minutes 60 --seed 0 --verbose 2"
TFGEN="python -m zoo.cli"
mkdir -p "$RUNS"
{
  for e in reinforce reinforce_ma nvil vimco taylor concrete; do
    echo "$TFGEN train sbn $COMMON --estimator $e --out $RUNS/sbn_$e > $RUNS/sbn_$e.log 2>&1"
  done
  for e in total path dreg vimco; do
    echo "$TFGEN train iwae $COMMON --estimator $e --out $RUNS/iwae_$e > $RUNS/iwae_$e.log 2>&1"
  done
} | xargs -P 3 -I CMD sh -c "CMD"
for run in "$RUNS"/*/; do
  $TFGEN evaluate "$run" --k 5000 --every-nth 10 --verbose 0 > "${run%/}.eval.log" 2>&1
done
