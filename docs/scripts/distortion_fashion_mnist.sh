#!/bin/sh
# Seed 004's experiments on Fashion-MNIST at CPU scale (docs/distortion.md): four jobs in
# parallel with one thread each under wall-time budgets (--max-minutes), then the
# secondary, then the figures. Every command also runs alone.
set -e
export TFGEN_DATA_DIR=${TFGEN_DATA_DIR:-/work/shared/data} TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
COMMON="--dataset fashion_mnist --train-size 4000 --batch-size 32 --epochs 100 --learning-rate 1e-3
 --dual-learning-rate 2e-3 --clipnorm 200 --verbose 2"
TFGEN="python -m zoo.cli"
mkdir -p runs
# Single-stage primaries (figures 4-6).
for g in 5 10 20; do
  $TFGEN distortion-train $COMMON --gamma $g --max-minutes 52 --out runs/dt_g$g > runs/dt_g$g.log 2>&1 &
done
# Two-stage (figure 8): a primary at gamma 40, then a secondary on it to gamma 20
# (measured on 2000 test images, with its primary on the same images).
( $TFGEN distortion-train $COMMON --gamma 40 --max-minutes 22 --out runs/dt_g40 > runs/dt_g40.log 2>&1 &&
  $TFGEN distortion-train $COMMON --primary runs/dt_g40 --gamma 20 --max-minutes 26 --test-size 2000 \
    --out runs/dt_g40_s20 > runs/dt_g40_s20.log 2>&1 ) &
wait
$TFGEN distortion-figures --primaries runs/dt_g5 runs/dt_g10 runs/dt_g20 runs/dt_g40 \
  --two-stage runs/dt_g40_s20 --out docs/figures
