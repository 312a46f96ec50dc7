#!/bin/sh
# The estimator comparison of docs/estimators.md on fixed-binarization MNIST, from the repository root.
# 1. Every SBN estimator trains the same bound (IWAE_5) for the same budget: 1000 steps of 50 images
#    (5 epochs of a 10000-image subset, Adam 1e-3, seed 0), one thread per job, three jobs at a time.
# 2. IWAE models (Gaussian latents) train for 1 epoch (200 steps) of the same subset with the total
#    derivative, DReG and the path derivative; the first gives the fixed weights at which the
#    pathwise estimators' variances are measured.
# 3. Every run is scored by the IWAE_1000 estimate on test images 0, 20, 40, ... (500 images) and by
#    IWAE_5000 on test images 0, 10, 20, ... (1000 images).
# 4. Gradient variances against k at each family's fixed weights (docs/scripts/estimator_variance.py),
#    and the figure.
set -e
export TFGEN_DATA_DIR=${TFGEN_DATA_DIR:-/work/shared/data} TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
export PYTHONPATH=${PYTHONPATH:-.}
RUNS=${RUNS:-runs/estimators}
COMMON="--dataset binarized_mnist --train-size 10000 --objective iwae --k 5 --batch-size 50"
COMMON="$COMMON --learning-rate 1e-3 --max-minutes 60 --seed 0 --verbose 2"
TFGEN="python -m zoo.cli"
mkdir -p "$RUNS"
for e in reinforce reinforce_ma nvil vimco taylor concrete; do
  echo "$TFGEN train sbn $COMMON --epochs 5 --eval-k 100 --test-size 1000 --estimator $e --out $RUNS/sbn_$e > $RUNS/sbn_$e.log 2>&1"
done | xargs -P 3 -I CMD sh -c "CMD"
for e in total dreg path; do
  $TFGEN train iwae $COMMON --epochs 1 --eval-k 10 --estimator $e --out "$RUNS/iwae_$e" > "$RUNS/iwae_$e.log" 2>&1
done
for run in sbn_reinforce sbn_reinforce_ma sbn_nvil sbn_vimco sbn_taylor sbn_concrete iwae_total iwae_dreg iwae_path; do
  $TFGEN evaluate "$RUNS/$run" --k 1000 --every-nth 20 --verbose 0 > "$RUNS/$run.eval.log" 2>&1
  $TFGEN evaluate "$RUNS/$run" --k 5000 --every-nth 10 --verbose 0 >> "$RUNS/$run.eval.log" 2>&1
done
python docs/scripts/estimator_variance.py measure --run "$RUNS/sbn_vimco" \
  --estimators reinforce reinforce_ma nvil vimco taylor concrete --out docs/figures/variance_sbn.json
python docs/scripts/estimator_variance.py measure --run "$RUNS/iwae_total" \
  --estimators total path dreg reinforce vimco --draws 30 --warm 100 --out docs/figures/variance_iwae.json
python docs/scripts/estimator_variance.py plot docs/figures/variance_sbn.json docs/figures/variance_iwae.json \
  --out docs/figures/estimator_variance.png
