"""Shared test set-up: notebooks run in fast mode unless the caller chose otherwise, and OpenMP threads sleep
rather than spin while they wait.

nbmake, the JupyterLab test and the torchrun tests start kernels and workers from this process, so they inherit
this environment; it is set here, before any test module imports torch (libgomp reads it once, when it loads).

OMP_WAIT_POLICY=PASSIVE: torch's intra-op threads (OpenMP) otherwise spin at every barrier. On a 2-core machine
with another busy process, a second thread then burns the CPU its partner needs: one training batch of notebook
05 took 6-8 s with 2 threads against 0.6-0.7 s with 1 (and 10 times the CPU), and 0.8 s with 2 threads and this
policy (measured with the machine at load 15). The numbers computed do not depend on it.
"""
import os

# nbmake starts each notebook's kernel from this process, so the kernel inherits this.
os.environ.setdefault("DIN_TUTORIAL_FAST", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
