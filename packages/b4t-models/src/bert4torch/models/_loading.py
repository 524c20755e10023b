"""The one strict loader every family uses: checkpoint tensors through the weight map into the model, and its report.

The weight-map contract is ``_weights``'s docstring. What the loader refuses, and how it tells:

* *missing* parameters (a family's own weights that the checkpoint lacks), *unexpected* keys (nothing knows them),
  *mismatched* shapes, an integer tensor where a float weight is expected (*wrong_dtype*) and one parameter stored
  twice under two names with different values (*conflicting*) make the report not ``ok``: strict loading raises
  :class:`WeightLoadingError` naming our parameter and the checkpoint's key; ``ignore_invalid_weights=True`` turns
  that into one warning;
* parameters the user asked to add (``model.added_parameters()``: heads switched on, a subclass's own layers,
  cross-attention) are initialised when the checkpoint lacks them, listed in ``initialized``, with a one-line
  notice (a warning of the ``bert4torch.models`` logger), as transformers does;
* a NaN or inf in a loaded tensor is a ``UserWarning`` naming the checkpoint key (the weights load as they are).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from ._config import closest
from ._weights import (
    Checkpoint,
    WeightMap,
    apply_legacy_renames,
    invert_weight_map,
    is_unknown,
    iter_checkpoint,
    map_key,
    resolve_checkpoint_files,
    template_key,
)

if TYPE_CHECKING:
    from ._base import ModelBase

__all__ = ["LoadReport", "WeightLoadingError", "load_weights"]

logger = logging.getLogger("bert4torch.models")


class WeightLoadingError(RuntimeError):
    """Strict loading found missing, unexpected, mis-shaped, mistyped or conflicting weights (``report``)."""

    def __init__(self, message: str, report: LoadReport) -> None:
        super().__init__(message)
        self.report = report


def _cut(items: Sequence[object], limit: int) -> str:
    shown = ", ".join(str(x) for x in items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


@dataclass
class LoadReport:
    """What a load did. ``ok`` is True when nothing was missing, unexpected, mismatched, mistyped or conflicting."""

    loaded: list[str] = field(default_factory=list)  # our parameter names that received a tensor
    missing: list[str] = field(default_factory=list)  # our parameters that received nothing
    unexpected: list[str] = field(default_factory=list)  # checkpoint keys nothing knows
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # (our name, ckpt, ours)
    unused: list[str] = field(default_factory=list)  # known checkpoint keys whose target is not built
    initialized: list[str] = field(default_factory=list)  # parameters the checkpoint did not provide, initialised
    wrong_dtype: list[tuple[str, str, str]] = field(default_factory=list)  # (our name, checkpoint dtype, ours)
    conflicting: list[tuple[str, str, str]] = field(default_factory=list)  # (our name, key, other key): values differ
    nonfinite: list[str] = field(default_factory=list)  # checkpoint keys whose tensor holds NaN or inf
    checkpoint_keys: dict[str, str] = field(default_factory=dict)  # our name -> the checkpoint key read (or expected)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.wrong_dtype or self.conflicting)

    def _named(self, name: str) -> str:
        key = self.checkpoint_keys.get(name)
        return f"{name} (checkpoint key {key})" if key and key != name else name

    def describe(self, limit: int = 20) -> str:
        """A readable summary naming the offending parameters and their checkpoint keys (``limit`` of each kind)."""
        parts = []
        if self.missing:
            parts.append(f"missing {len(self.missing)} parameter(s) not found in the checkpoint: "
                         f"{_cut([self._named(n) for n in self.missing], limit)}")
        if self.unexpected:
            parts.append(f"unexpected {len(self.unexpected)} checkpoint key(s) that no weight map knows: "
                         f"{_cut(self.unexpected, limit)}")
        if self.mismatched:
            items = [f"{self._named(n)}: checkpoint {tuple(a)} vs model {tuple(b)}" for n, a, b in self.mismatched]
            parts.append(f"mismatched shapes for {len(items)} parameter(s): {_cut(items, limit)}")
        if self.wrong_dtype:
            items = [f"{self._named(n)}: {a}, expected {b}" for n, a, b in self.wrong_dtype]
            parts.append(f"integer tensor(s) where float weights are expected: {_cut(items, limit)}")
        if self.conflicting:
            items = [f"{n} ({a!r} and {b!r})" for n, a, b in self.conflicting]
            parts.append(f"{len(items)} parameter(s) stored twice with different values: {_cut(items, limit)}")
        return "; ".join(parts) or "all weights loaded"


# --------------------------------------------------------------------------------------------------- filling
def _finite(value: torch.Tensor) -> bool:
    """No NaN or inf in ``value``: its sum is finite then (no temporary the tensor's size); a sum that overflowed
    is confirmed element by element."""
    return bool(torch.isfinite(value.sum())) or bool(torch.isfinite(value).all())


def _checkpoint_items(model: ModelBase, checkpoint: Checkpoint) -> Iterable[tuple[str, torch.Tensor]]:
    """``(key, tensor)`` pairs of the checkpoint, after the family's format surgery (GPT-2's fused ``c_attn``)."""
    items = checkpoint.items() if isinstance(checkpoint, Mapping) else iter_checkpoint(checkpoint)
    return model.convert_checkpoint_tensors(items)


def _targets(key: str, weight_map: WeightMap, prefix: str | None, params: Mapping[str, torch.Tensor]
             ) -> list[str] | None | object:
    """Our parameter names for a checkpoint key: through the map, then with the family prefix added, then as our own
    name; ``None`` for a key the map drops; an unknown key gives what ``map_key`` gives for one."""
    mapped = map_key(key, weight_map)
    if is_unknown(mapped) and prefix and not key.startswith(prefix + "."):
        mapped = map_key(f"{prefix}.{key}", weight_map)
    if is_unknown(mapped) and key in params:
        mapped = [key]
    return mapped


def _current(model: nn.Module, name: str) -> torch.Tensor:
    """The tensor parameter or buffer ``name`` holds now."""
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    return module._parameters.get(leaf, module._buffers.get(leaf))


def _put(model: nn.Module, name: str, value: torch.Tensor, current: torch.Tensor, assign: bool) -> None:
    """Copy ``value`` into parameter ``name``, or (``assign``: the model was built on the meta device) replace it."""
    with torch.no_grad():
        if not assign:
            current.copy_(value)
            return
        value = value.to(dtype=current.dtype) if value.is_floating_point() else value
        module_name, _, leaf = name.rpartition(".")
        module = model.get_submodule(module_name) if module_name else model
        if isinstance(getattr(module, leaf), nn.Parameter):
            setattr(module, leaf, nn.Parameter(value, requires_grad=current.requires_grad))
        else:
            module._buffers[leaf] = value


def _admissible(model: nn.Module, report: LoadReport, name: str, key: str, value: torch.Tensor,
                current: torch.Tensor, loaded: set[str]) -> bool:
    """Whether ``value`` (read from checkpoint ``key``, after surgery) may fill ``name``; the report says why not."""
    if tuple(value.shape) != tuple(current.shape):
        report.mismatched.append((name, tuple(value.shape), tuple(current.shape)))
    elif current.is_floating_point() and not value.is_floating_point():
        report.wrong_dtype.append((name, str(value.dtype).removeprefix("torch."),
                                   str(current.dtype).removeprefix("torch.")))
    elif name in loaded:  # a second key names the same parameter: fine when it holds the same values
        first = _current(model, name)
        if not torch.equal(first, value.to(first.dtype)):
            report.conflicting.append((name, report.checkpoint_keys[name], key))
        return False
    else:
        return True
    report.checkpoint_keys.setdefault(name, key)
    return False


def _fill(model: ModelBase, checkpoint: Checkpoint, weight_map: WeightMap, prefix: str | None, assign: bool
          ) -> tuple[LoadReport, set[str]]:
    """Read every checkpoint tensor into its parameters; the report so far and the names that got a value."""
    params = model.state_dict(keep_vars=True)
    report, loaded = LoadReport(), set()
    ours: dict[str, str] | None = None  # our names the family's map knows, derived at the first unknown key
    for raw_key, tensor in _checkpoint_items(model, checkpoint):
        key = apply_legacy_renames(raw_key)
        mapped = _targets(key, weight_map, prefix, params)
        if is_unknown(mapped):
            ours = invert_weight_map(weight_map, model._num_layers()) if ours is None else ours
            # our own name of a part this model did not build (save_weights of a model with an MLM head): unused
            (report.unused if key in ours else report.unexpected).append(raw_key)
            continue
        for name in mapped or ():  # type: ignore[union-attr]
            if name not in params:
                report.unused.append(raw_key)
                continue
            value = model.load_variable(name, tensor)
            if not _admissible(model, report, name, raw_key, value, params[name], loaded):
                continue
            if value.is_floating_point() and not _finite(value):
                report.nonfinite.append(raw_key)
            _put(model, name, value, params[name], assign)
            loaded.add(name)
            report.checkpoint_keys[name] = raw_key
    return report, loaded


# --------------------------------------------------------------------------------------------------- what is left
def _classify_unloaded(model: ModelBase, report: LoadReport, loaded: set[str], weight_map: WeightMap) -> list[str]:
    """Parameters that got nothing: *initialized* when new by construction or added by the user (returned, for the
    notice), else *missing* with the checkpoint key expected (tied copies of a loaded parameter count as loaded;
    names of one shared tensor count once)."""
    new_ok, ties = model.expected_new_parameters(), model.tied_weights()
    # a tensor refused for its shape or dtype is reported as such, not again as missing
    refused = {entry[0] for entry in report.mismatched + report.wrong_dtype}
    groups: dict[int, list[str]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        groups.setdefault(id(tensor), []).append(name)
    unloaded = [names for names in groups.values()
                if not any(n in loaded or ties.get(n) in loaded or n in refused for n in names)]
    added_names = model.added_parameters() if any(n not in new_ok for names in unloaded for n in names) else set()
    added, expected = [], None
    for names in unloaded:
        if any(n in new_ok or n in added_names for n in names):
            report.initialized.append(names[0])
            if not any(n in new_ok for n in names):
                added.append(names[0])
            continue
        report.missing.append(names[0])
        expected = expected if expected is not None else invert_weight_map(weight_map, model._num_layers())
        report.checkpoint_keys.setdefault(names[0], expected.get(names[0], names[0]))
    report.loaded = sorted(loaded)
    return added


def _complain(model: nn.Module, report: LoadReport, weight_map: WeightMap, ignore_invalid_weights: bool) -> None:
    """Raise :class:`WeightLoadingError` for a report that is not ``ok`` (one warning when ignoring)."""
    message = report.describe()
    hints = []
    for key in report.unexpected[:3]:
        close = closest(template_key(key)[0], list(weight_map))
        if close:
            hints.append(f"{key!r} looks like {close!r}")
    if hints:
        message += "; " + "; ".join(hints)
    if ignore_invalid_weights:
        warnings.warn(f"ignore_invalid_weights=True: {message}", UserWarning, stacklevel=3)
    else:
        raise WeightLoadingError(f"{type(model).__name__}: {message}. Pass ignore_invalid_weights=True to load anyway.",
                                 report)


def _tell(model: nn.Module, report: LoadReport, added: list[str]) -> None:
    """The notices that do not stop a load: parameters initialised because the user added them, NaN/inf tensors."""
    if added:
        logger.warning("%s: %d parameter(s) not in the checkpoint were initialised (the model adds them; train them "
                       "before use): %s", type(model).__name__, len(added), _cut(added, 20))
    if report.nonfinite:
        warnings.warn(f"{type(model).__name__}: checkpoint tensor(s) holding NaN or inf were loaded as they are: "
                      f"{_cut(report.nonfinite, 20)}", UserWarning, stacklevel=3)


def load_weights(
    model: ModelBase,
    checkpoint: Checkpoint,
    weight_map: WeightMap | None = None,
    *,
    prefix: str | None = None,
    ignore_invalid_weights: bool = False,
    assign: bool = False,
) -> LoadReport:
    """Load ``checkpoint`` into ``model`` through ``weight_map``, strictly.

    Args:
        model: a family model (``bert4torch.models`` class): the loader uses its format surgery
            (``convert_checkpoint_tensors``), vocabulary surgery (``load_variable``), ties (``tied_weights``,
            ``untie_weights``, ``tie_weights``), ``expected_new_parameters`` and ``added_parameters``.
        checkpoint: a path (file, shard list, index json, folder) or an in-memory state dict.
        weight_map: checkpoint key -> our name (see ``_weights``); None means the model's ``weight_map``.
        prefix: the family prefix tolerated on checkpoint keys; None means the model's ``prefix``.
        ignore_invalid_weights: warn instead of raising when the report is not ``ok``.
        assign: the model was built on the meta device; tensors are assigned (no copy) instead of copied in.

    Returns:
        The :class:`LoadReport` (also stored as ``model.load_report``).

    Raises:
        WeightLoadingError: in strict mode, when the report is not ``ok``.
        CheckpointError: when a file cannot be read.
    """
    if not isinstance(checkpoint, Mapping):  # a bad type or a missing file fails here, before the model is touched
        checkpoint = resolve_checkpoint_files(checkpoint)
    weight_map = dict(model.weight_map if weight_map is None else weight_map)
    # tied parameters load separately; tie_weights() decides afterwards whether the checkpoint keeps them tied
    model.untie_weights()
    report, loaded = _fill(model, checkpoint, weight_map, model.prefix if prefix is None else prefix, assign)
    added = _classify_unloaded(model, report, loaded, weight_map)
    model.load_report = report
    model.tie_weights()
    if not report.ok:
        _complain(model, report, weight_map, ignore_invalid_weights)
    _tell(model, report, added)
    return report
