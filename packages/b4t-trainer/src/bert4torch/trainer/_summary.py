"""The parameter table printed by ``BaseModel.summary``."""

from __future__ import annotations

from torch import nn


def summary_table(module: nn.Module) -> str:
    """A table of the top-level submodules of ``module`` with their parameter counts, and the totals."""
    rows = [("name", "type", "params", "trainable")]
    children = list(module.named_children()) or [("", module)]
    for name, child in children:
        n = sum(p.numel() for p in child.parameters())
        t = sum(p.numel() for p in child.parameters() if p.requires_grad)
        rows.append((name, type(child).__name__, f"{n:,}", f"{t:,}"))
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("-" * len(lines[0]))
    lines.append(f"Total params: {total:,}  Trainable params: {trainable:,}  Non-trainable: {total - trainable:,}")
    return "\n".join(lines)
