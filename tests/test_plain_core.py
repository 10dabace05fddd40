"""The package runs the form the notebooks teach: public torch API only, no hidden state in the layers.

Issue 12's rule, held by a test: no private ATen calls, no hand-written autograd Functions, no
caches keyed on tensor internals (``_version``), and no module-level switch that makes the traced
graph differ from the trained one.
"""
from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "din_tutorial"
FORBIDDEN = re.compile(r"torch\.ops\.aten|native_batch_norm|\b_version\b|autograd\.Function|FORCE_TRACING")


def test_no_private_torch_calls_hand_written_backward_or_version_caches():
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}: {line.strip()}"
            for p in sorted(PACKAGE.rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if FORBIDDEN.search(line)]
    assert not hits, "\n".join(hits)


def test_the_rule_catches_what_it_forbids():
    for line in ("torch.ops.aten.native_batch_norm_backward(g)", "class F(torch.autograd.Function):",
                 "key = t._version", "_tracing.FORCE_TRACING = True"):
        assert FORBIDDEN.search(line), line
