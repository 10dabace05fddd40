#!/usr/bin/env bash
# Install din-tutorial on a fresh Debian/Ubuntu machine with Python >= 3.10:
# a virtual environment in .venv with the package and every extra (notebooks, ONNX, tests),
# Graphviz's `dot` for the model drawings, and (INSTALL_BROWSER=1) Chromium for the browser test.
# constraints.txt pins torch==2.13.0. From PyPI alone that pin is the CUDA build on Linux (several GB);
# it resolves to the CPU wheel only where one is already on disk (as on the project's CI machine).
# TORCH_CPU=1 installs PyTorch's CPU wheel from its own index first (https://download.pytorch.org/whl/cpu),
# then everything else from PyPI; the default path does not depend on that index.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

apt_packages=()
command -v dot >/dev/null 2>&1 || apt_packages+=(graphviz)
if [ "${INSTALL_BROWSER:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then apt_packages+=(chromium); fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
  else
    echo "To finish the set-up, run once: sudo apt-get install -y ${apt_packages[*]}" \
         "(only the model drawings need graphviz, only the browser test needs chromium)"
  fi
fi

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), "din-tutorial needs Python >= 3.10"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ "${TORCH_CPU:-0}" = 1 ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch \
    --index-url https://download.pytorch.org/whl/cpu
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all]"
# TORCHREC=1: the optional extra for sharded embedding tables (din_tutorial.sharded_tables, notebook 09), CPU only.
# torchrec's metadata requires the CUDA fbgemm-gpu, so the CPU kernels (fbgemm-gpu-cpu) and torchrec's other
# requirements come first (the `torchrec` extra), then torchrec itself with --no-deps; constraints.txt keeps torch.
if [ "${TORCHREC:-0}" = 1 ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[torchrec]"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt --no-deps "torchrec==1.8.0"
  .venv/bin/python -c "import fbgemm_gpu, torchrec, torch; print('torchrec', torchrec.__version__, 'with torch', torch.__version__)"
fi
echo "din-tutorial installed in .venv; run .venv/bin/din-tutorial (the main job) or open the notebooks with .venv/bin/jupyter lab notebooks/00_index.ipynb"
