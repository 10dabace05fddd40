"""Is the model being traced for export? One answer for every exporter.

Forward-time input checks read tensor values (``ids.max().item()``) and the packed attention
path makes shapes depend on the data; both are skipped while a graph is being recorded, so the
exported graph stays the plain, dense computation with dynamic batch and sequence length.
"""
from __future__ import annotations

import torch


def is_tracing() -> bool:
    """True inside ``torch.onnx.export`` (both exporters), ``torch.export``, ``torch.jit.trace`` and ``torch.compile``."""
    return bool(
        torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
    )
