#!/bin/sh
# The experiments of "Mind Your Bits and Errors: Prioritizing the Bits that Matter in Variational
# Autoencoders" (anonymous ICLR 2021 submission) on Fashion-MNIST at CPU scale (docs/distortion.md),
# the commands run for the table there: one thread per job, wall-time budgets (--max-minutes) on a
# shared, heavily loaded 2-core machine. They were run with the pre-refactor `tfgen distortion-train`
# (weights-only checkpoints, --max-minutes stopping mid-epoch, batches shuffled by Keras); this
# grammar trains through the run driver, so a rerun gives other numbers. Every command also runs alone.
set -e
export TFGEN_DATA_DIR=${TFGEN_DATA_DIR:-/work/shared/data} TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
COMMON="--dataset fashion_mnist --config cpu28 --train-size 4000 --batch-size 32 --epochs 100 --learning-rate 1e-3
 --clipnorm 200 --verbose 2"
TFGEN="python -m zoo.cli"
mkdir -p runs
# Single-stage primaries (figures 4-6), 52 minutes each, tested on all 10000 test images.
for g in 5 10 20; do
  $TFGEN train distortion $COMMON --dual-learning-rate 2e-3 --gamma $g --max-minutes 52 --out runs/dt_g$g \
    > runs/dt_g$g.log 2>&1 &
done
# gamma 40: a 22-minute primary; then, in parallel, (a) the secondary of two-stage training
# to gamma 20 (figure 8) and (b) the same primary trained 24 more minutes with a faster dual
# step, the gamma = 40 point of figures 4-6. Both tested on 2000 test images.
$TFGEN train distortion $COMMON --dual-learning-rate 2e-3 --gamma 40 --max-minutes 22 --out runs/dt_g40 \
  > runs/dt_g40.log 2>&1
$TFGEN train distortion $COMMON --dual-learning-rate 2e-3 --primary runs/dt_g40 --gamma 20 --max-minutes 26 \
  --test-size 2000 --out runs/dt_g40_s20 > runs/dt_g40_s20.log 2>&1 &
$TFGEN train distortion $COMMON --dual-learning-rate 1e-2 --init runs/dt_g40 --gamma 40 --max-minutes 24 \
  --test-size 2000 --out runs/dt_g40_cont > runs/dt_g40_cont.log 2>&1 &
wait
$TFGEN figures distortion --primaries runs/dt_g5 runs/dt_g10 runs/dt_g20 runs/dt_g40_cont \
  --two-stage runs/dt_g40_s20 --out docs/figures
