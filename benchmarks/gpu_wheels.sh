#!/usr/bin/env bash
# Download the wheels benchmarks/gpu_check.py installs on a GPU machine that has Python 3.12 and
# torch (with numpy, scipy, scikit-image, pandas, matplotlib, typer, rich, tifffile, pillow, timm,
# einops, msgpack) but not nnU-Net's stack, and no network access. Run from the repository root,
# on a machine that can reach PyPI:
#
#     bash benchmarks/gpu_wheels.sh
#
# It fills two git-ignored folders, because one call to such a machine may carry at most 64 MiB and
# SimpleITK's wheel alone is about 53 MB:
#     .devwhl1/   SimpleITK
#     .devwhl2/   nnunetv2, its network, augmentation and storage libraries, nibabel (~17 MB)
# svseg itself is not a wheel: the check runs the working tree (PYTHONPATH=.), so it tests the code
# as it is. Versions are the ones svseg's own environment was tested with; --no-deps because the
# machine already has the scientific stack, and a second copy of numpy or torch would break it.
# nnunetv2's and batchgenerators' other declared needs (yacs, future, unittest2, graphviz,
# imagecodecs) are imported nowhere on svseg's paths, so they are not carried.
# docs/benchmarks.md ("GPU check") gives the two calls that install these and run the check.
set -euo pipefail
python=${PYTHON:-python3}
platform=(--python-version 3.12 --implementation cp --only-binary=:all: --no-deps
          --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
          --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any)
rm -rf .devwhl1 .devwhl2
mkdir -p .devwhl1 .devwhl2
"$python" -m pip download -q "${platform[@]}" -d .devwhl1 SimpleITK==2.5.7
for requirement in nnunetv2==2.8.1 dynamic-network-architectures==0.4.4 batchgenerators==0.25.5 \
                   batchgeneratorsv2==0.3.6 blosc2==4.14.1 ndindex==1.10.1 numexpr==2.14.2 \
                   connected-components-3d==4.1.1 nibabel==5.4.2; do
  "$python" -m pip download -q "${platform[@]}" -d .devwhl2 "$requirement"
done
# acvl-utils is published as a source archive only; it is pure Python, so a wheel built here runs there.
"$python" -m pip wheel -q --no-deps -w .devwhl2 acvl-utils==0.2.6
du -sh .devwhl1 .devwhl2
