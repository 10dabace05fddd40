"""Shared test set-up: notebooks run in fast mode unless the caller chose otherwise."""
import os

# nbmake starts each notebook's kernel from this process, so the kernel inherits this.
os.environ.setdefault("DIN_TUTORIAL_FAST", "1")
