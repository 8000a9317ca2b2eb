#!/bin/sh
# The Fashion-MNIST run of docs/training.md: EfficientNet-B0 and its three paper variants, full
# size (width/depth 1.0), trained with `edge-dmp train` on the Debian package's real files at their
# native 28x28x1, then tabulated from each run's summary.json.
#   sh bench/fashion-mnist.sh                   # STEPS=200 per variant (what fits a 2-core CPU)
#   STEPS=2000 VARIANTS="baseline dmp" sh bench/fashion-mnist.sh
set -e
STEPS=${STEPS:-200}
VARIANTS=${VARIANTS:-"baseline dmp maxpool duplicate"}
OUT=${OUT:-runs}
node scripts/build.mjs # the CLI below runs the compiled dist/
for v in $VARIANTS; do
  rm -rf "$OUT/fmnist-$v"
  node bin/edge-dmp.js train --model efficientnet-b0 --variant "$v" --data fashion-mnist \
    --epochs 1 --batch-size 64 --max-steps "$STEPS" --val-limit 1000 --seed 0 --out "$OUT/fmnist-$v"
done
node --conditions=edge-dmp-source --import tsx bench/fashion-mnist-table.ts $(for v in $VARIANTS; do echo "$OUT/fmnist-$v"; done)
