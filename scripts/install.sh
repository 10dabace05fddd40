#!/usr/bin/env bash
# Install din-tutorial on a fresh Debian/Ubuntu machine with Python >= 3.10:
# a virtual environment in .venv with the package and every extra (notebooks, ONNX, tests),
# Graphviz's `dot` for the model drawings, and (INSTALL_BROWSER=1) Chromium for the browser test.
# torch is pinned to the CPU wheel by constraints.txt; edit that file for a GPU machine.
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
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all]"
echo "din-tutorial installed in .venv; run .venv/bin/din-tutorial (the main job) or open the notebooks with .venv/bin/jupyter lab notebooks/00_index.ipynb"
