"""Is the model being traced for export? One answer for every exporter.

Forward-time input checks read tensor values (``ids.max().item()``) and the packed attention
path makes shapes depend on the data; both are skipped while a graph is being recorded, so the
exported graph stays the plain, dense computation with dynamic batch and sequence length.
"""
from __future__ import annotations

import torch

#: Set by ``din_tutorial.visualize`` while torchview records the graph (torchview runs the model
#: eagerly, so none of torch's own flags is on): the drawing then shows the exported computation.
FORCE_TRACING = False


def is_tracing() -> bool:
    """True inside ``torch.onnx.export`` (both exporters), ``torch.export``, ``torch.jit.trace``,
    ``torch.compile`` and while ``visualize_model`` draws the model."""
    return bool(
        FORCE_TRACING
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
    )
