"""Weight maps as data, checkpoint reading, and the one strict loader every family uses.

The contract (for family authors):

* A family declares ``weight_map: dict[str, str | list[str] | None]`` from **checkpoint key** to **our parameter
  name** (``model.state_dict()`` key). ``{}`` is the layer-index slot: ``"bert.encoder.layer.{}.attention.self.query.weight":
  "encoderLayer.{}.multiHeadAttention.q.weight"``. A value of ``None`` means "known, drop it" (``position_ids``
  buffers, heads we never build). A list means one checkpoint tensor feeds several parameters (``albert_unshared``).
  Keys without a slot are matched literally first, so ALBERT's ``albert_layer_groups.0`` keys can stay literal.
* A family declares ``prefix`` (``'bert'``): a checkpoint saved without it (sentence-transformers, ``BertModel``)
  loads too, because an unknown key ``k`` is retried as ``prefix + '.' + k``. Keys equal to our own parameter names
  (a ``torch.save(model.state_dict())`` file) also load.
* Renames shared by old checkpoints (``LayerNorm.gamma``/``beta``) are the declared list ``LEGACY_RENAMES``, applied
  to checkpoint keys before the map.
* Tensor surgery that depends on options (``keep_tokens``, ``compound_tokens``) is the model's
  ``load_variable(name, tensor)``; tensor surgery that depends on the format (GPT-2's fused qkv) is a named function
  in the family file, wired through ``convert_checkpoint_tensors`` (loading) and ``restore_checkpoint_tensors``
  (saving). The loader talks to the model only through these methods of ``ModelBase``.
* Strict loading: unknown checkpoint keys (*unexpected*), parameters left without a value (*missing*) and shape
  differences (*mismatched*) raise :class:`WeightLoadingError` listing them; ``ignore_invalid_weights=True`` turns
  the error into one ``UserWarning`` and the :class:`LoadReport` is still returned (and kept on
  ``model.load_report``). Known keys whose target is not built (``cls.seq_relationship`` without ``with_nsp``) are
  *unused*: reported, never an error, because the original loaded full pretraining checkpoints into bare encoders.
* Parameters the model knows cannot be in a pretrained checkpoint (conditional LayerNorm ``dense1/dense2``,
  ``layer_add_embs``) are listed by ``model.expected_new_parameters()`` and are initialised, not reported missing.
* Tied parameters (the MLM decoder and the word embedding): the loader calls ``model.untie_weights()`` first, loads
  both names separately, treats a parameter as present when its tie source (``model.tied_weights()``) was
  loaded, and calls ``model.tie_weights()`` last, which re-ties unless the checkpoint stores two different matrices.
* The inverse map for saving is derived (:func:`invert_weight_map`), never written twice: the first checkpoint key
  that names a parameter wins.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

import torch
from torch import nn

from ._config import closest

if TYPE_CHECKING:
    from ._base import ModelBase

__all__ = [
    "LEGACY_RENAMES",
    "CheckpointError",
    "LoadReport",
    "WeightLoadingError",
    "WeightMap",
    "apply_legacy_renames",
    "invert_weight_map",
    "iter_checkpoint",
    "load_checkpoint",
    "load_weights",
    "map_key",
    "module_keys",
    "resolve_checkpoint_files",
    "save_state_dict",
    "template_key",
]

WeightMap = Mapping[str, "str | list[str] | None"]
Checkpoint = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], Mapping[str, torch.Tensor]]

# Declared renames from TF-era checkpoints (transformers' "legacy" WeightRenaming): applied to key suffixes.
LEGACY_RENAMES: tuple[tuple[str, str], ...] = (
    ("LayerNorm.gamma", "LayerNorm.weight"),
    ("LayerNorm.beta", "LayerNorm.bias"),
)

_LAYER_INDEX = re.compile(r"\.(\d+)\.")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


class CheckpointError(OSError):
    """A checkpoint path that cannot be read: missing, corrupt, truncated, or of an unknown format."""


class WeightLoadingError(RuntimeError):
    """Strict loading found missing, unexpected or mis-shaped weights. ``report`` holds the details."""

    def __init__(self, message: str, report: LoadReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class LoadReport:
    """What a load did. ``ok`` is True when nothing was missing, unexpected or mismatched."""

    loaded: list[str] = field(default_factory=list)  # our parameter names that received a tensor
    missing: list[str] = field(default_factory=list)  # our parameters that received nothing
    unexpected: list[str] = field(default_factory=list)  # checkpoint keys nothing knows
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)  # (our name, ckpt, ours)
    unused: list[str] = field(default_factory=list)  # known checkpoint keys whose target is not built
    initialized: list[str] = field(default_factory=list)  # parameters new by construction, initialised

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 20) -> str:
        """A readable summary naming the offending keys (the first ``limit`` of each kind)."""

        def cut(items: Sequence[object]) -> str:
            shown = ", ".join(str(x) for x in items[:limit])
            return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")

        parts = []
        if self.missing:
            parts.append(f"missing {len(self.missing)} parameter(s) not found in the checkpoint: {cut(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected {len(self.unexpected)} checkpoint key(s) that no weight map knows: {cut(self.unexpected)}")
        if self.mismatched:
            items = [f"{n} (checkpoint {tuple(a)} vs model {tuple(b)})" for n, a, b in self.mismatched]
            parts.append(f"mismatched shapes for {len(items)} parameter(s): {cut(items)}")
        return "; ".join(parts) or "all weights loaded"


# --------------------------------------------------------------------------------------------------- key mapping
def template_key(key: str) -> tuple[str, int]:
    """``'a.layer.3.b'`` -> ``('a.layer.{}.b', 3)``; keys without a ``.N.`` part give ``(key, -1)``."""
    match = _LAYER_INDEX.search(key)
    if match is None:
        return key, -1
    return key[: match.start()] + ".{}." + key[match.end():], int(match.group(1))


def _format(target: str | list[str], index: int) -> list[str]:
    targets = [target] if isinstance(target, str) else list(target)
    return [t.format(index) if "{}" in t else t for t in targets]


_UNKNOWN = object()


def map_key(key: str, weight_map: WeightMap) -> list[str] | None | object:
    """Map one checkpoint key through ``weight_map``.

    Returns:
        A list of our parameter names, ``None`` for a key the map drops, or the module-private ``_UNKNOWN``
        sentinel when the map does not know the key (callers test ``result is _UNKNOWN`` via :func:`is_unknown`).
    """
    if key in weight_map:
        target = weight_map[key]
        return None if target is None else _format(target, -1)
    template, index = template_key(key)
    if index >= 0 and template in weight_map:
        target = weight_map[template]
        return None if target is None else _format(target, index)
    return _UNKNOWN


def is_unknown(value: object) -> bool:
    """True when :func:`map_key` did not know the key."""
    return value is _UNKNOWN


def module_keys(modules: Mapping[str, str], leaves: Sequence[str] = ("weight", "bias")) -> dict[str, str]:
    """``{checkpoint module: our module}`` -> ``{checkpoint parameter: our parameter}`` for each leaf name (a map
    written per module, as the checkpoints name them)."""
    return {f"{theirs}.{leaf}": f"{ours}.{leaf}" for theirs, ours in modules.items() for leaf in leaves}


def invert_weight_map(weight_map: WeightMap, num_layers: int) -> dict[str, str]:
    """Derive ``{our name: checkpoint key}`` for saving; the first checkpoint key naming a parameter wins."""
    inverse: dict[str, str] = {}
    for ckpt_key, target in weight_map.items():
        if target is None:
            continue
        targets = [target] if isinstance(target, str) else list(target)
        indices = range(num_layers) if "{}" in ckpt_key or any("{}" in t for t in targets) else [-1]
        for i in indices:
            for t in targets:
                ours = t.format(i) if "{}" in t else t
                inverse.setdefault(ours, ckpt_key.format(i) if "{}" in ckpt_key else ckpt_key)
    return inverse


def apply_legacy_renames(key: str) -> str:
    """Apply :data:`LEGACY_RENAMES` to a checkpoint key."""
    for old, new in LEGACY_RENAMES:
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


# --------------------------------------------------------------------------------------------------- reading
def resolve_checkpoint_files(checkpoint_path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Turn a file, a list of shards, a shard index json, or a folder into the list of files to read.

    Raises:
        CheckpointError: when nothing loadable is there.
    """
    if isinstance(checkpoint_path, (list, tuple)):
        files: list[Path] = []
        for item in checkpoint_path:
            files.extend(resolve_checkpoint_files(item))
        return files
    path = Path(checkpoint_path)
    if path.is_dir():
        for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin.index.json",
                     "pytorch_model.bin", "bert4torch_pytorch_model.bin"):
            if (path / name).exists():
                return resolve_checkpoint_files(path / name)
        shards = sorted(path.glob("*.safetensors")) or sorted(p for s in _PICKLE_SUFFIXES for p in path.glob("*" + s))
        if not shards:
            raise CheckpointError(f"no checkpoint file (*.safetensors, *.bin, *.pt) in folder {path}")
        return shards
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.name.endswith(".json"):
        try:
            index = json.loads(path.read_text())
            shard_names = sorted(set(index["weight_map"].values()))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path} is not a shard index (a json with a 'weight_map'): {exc}") from exc
        return [path.parent / name for name in shard_names]
    return [path]


# safetensors dtype names -> torch dtypes (those this torch has)
_ST_DTYPES = {
    name: getattr(torch, attr)
    for name, attr in (
        ("F64", "float64"), ("F32", "float32"), ("F16", "float16"), ("BF16", "bfloat16"), ("I64", "int64"),
        ("I32", "int32"), ("I16", "int16"), ("I8", "int8"), ("U64", "uint64"), ("U32", "uint32"), ("U16", "uint16"),
        ("U8", "uint8"), ("BOOL", "bool"), ("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2"),
        ("F8_E4M3FNUZ", "float8_e4m3fnuz"), ("F8_E5M2FNUZ", "float8_e5m2fnuz"), ("F8_E8M0", "float8_e8m0fnu"),
        ("C64", "complex64"),
    )
    if hasattr(torch, attr)
}


def _safetensors_header(path: Path) -> dict[str, dict]:
    """The header of a ``.safetensors`` file, after the ``safetensors`` library has validated the file.

    The library is the specification: whatever it refuses (a header length or data offsets that disagree with the
    file size, overlapping or unordered offsets, shapes that disagree with the byte ranges) is refused here with its
    message, as a :class:`CheckpointError`.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt"):
            pass
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is not a valid safetensors file (corrupt or truncated): {exc}") from exc
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    header.pop("__metadata__", None)
    return header


def _iter_safetensors(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Read a ``.safetensors`` file one tensor at a time with plain reads (no memory map).

    Each tensor is read straight into its own freshly allocated buffer, so a load holds the model plus at most one
    tensor in flight, and the model never stays backed by a file the user may later overwrite. Reading through the
    library's memory map and copying each tensor out keeps every page of the file resident as well (all-MiniLM-L6-v2:
    +181 MB peak RSS against +92 MB, ``benchmarks/models.py``), so the library validates and this reads.
    """
    header = _safetensors_header(path)
    with open(path, "rb") as f:
        base = 8 + int.from_bytes(f.read(8), "little")
        for key, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            dtype = _ST_DTYPES.get(info["dtype"])
            if dtype is None:
                raise CheckpointError(f"{path}: {key!r} has dtype {info['dtype']}, which this torch does not have")
            tensor = torch.empty(info["shape"], dtype=dtype)
            start, end = info["data_offsets"]
            if end > start:
                f.seek(base + start)
                if f.readinto(memoryview(tensor.view(-1).view(torch.uint8).numpy())) != end - start:
                    raise CheckpointError(f"{path}: truncated while reading {key!r}")
            yield key, tensor


def _iter_file(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    if path.suffix == ".safetensors":
        yield from _iter_safetensors(path)
        return
    if path.suffix in _PICKLE_SUFFIXES or path.suffix == "":
        try:
            # weights_only refuses pickles that would run code. No mmap: tensors assigned into a model must not stay
            # backed by a file the user may later overwrite in place; the loaded dict becomes the model's only copy.
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - every unpickling failure becomes one documented error
            raise CheckpointError(
                f"cannot load {path} with torch.load(weights_only=True) (corrupt, truncated, or a pickle that "
                f"needs code execution, which is refused): {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
            state = state["state_dict"]
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{path} does not hold a flat dict of tensors")
        yield from state.items()
        return
    raise CheckpointError(f"unknown checkpoint format {path.suffix!r} ({path}); use .safetensors, .bin or .pt")


def iter_checkpoint(checkpoint_path: str | os.PathLike | Sequence[str | os.PathLike]) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield ``(key, tensor)`` from every file of a checkpoint, one tensor at a time (low peak memory)."""
    for path in resolve_checkpoint_files(checkpoint_path):
        if not path.exists():
            raise CheckpointError(f"checkpoint shard not found: {path}")
        yield from _iter_file(path)


def load_checkpoint(checkpoint_path: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, torch.Tensor]:
    """Read a whole checkpoint into a dict (keys as stored)."""
    return dict(iter_checkpoint(checkpoint_path))


def save_state_dict(state: Mapping[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Write ``state`` to ``.safetensors`` (shared storages are cloned) or, for other suffixes, ``torch.save``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        seen: set[int] = set()
        out = {}
        for key, tensor in state.items():
            tensor = tensor.detach().cpu()
            ptr = tensor.untyped_storage().data_ptr()
            out[key] = tensor.clone().contiguous() if ptr in seen else tensor.contiguous()
            seen.add(ptr)
        save_file(out, str(path), metadata={"format": "pt"})
    else:
        torch.save({k: v.detach().cpu() for k, v in state.items()}, str(path))


# --------------------------------------------------------------------------------------------------- loading
def _checkpoint_items(model: ModelBase, checkpoint: Checkpoint) -> Iterable[tuple[str, torch.Tensor]]:
    """``(key, tensor)`` pairs of the checkpoint, after the family's format surgery (GPT-2's fused ``c_attn``)."""
    items = checkpoint.items() if isinstance(checkpoint, Mapping) else iter_checkpoint(checkpoint)
    return model.convert_checkpoint_tensors(items)


def _targets(key: str, weight_map: WeightMap, prefix: str | None, params: Mapping[str, torch.Tensor]
             ) -> list[str] | None | object:
    """Our parameter names for a checkpoint key: through the map, then with the family prefix added, then as our own
    name; ``None`` for a key the map drops, ``_UNKNOWN`` for a key nothing knows."""
    mapped = map_key(key, weight_map)
    if mapped is _UNKNOWN and prefix and not key.startswith(prefix + "."):
        mapped = map_key(f"{prefix}.{key}", weight_map)
    if mapped is _UNKNOWN and key in params:
        mapped = [key]
    return mapped


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


def _fill(model: ModelBase, checkpoint: Checkpoint, weight_map: WeightMap, prefix: str | None, assign: bool
          ) -> tuple[LoadReport, set[str]]:
    """Read every checkpoint tensor into its parameters; the report so far and the names that got a value."""
    params = model.state_dict(keep_vars=True)
    report, loaded = LoadReport(), set()
    for raw_key, tensor in _checkpoint_items(model, checkpoint):
        mapped = _targets(apply_legacy_renames(raw_key), weight_map, prefix, params)
        if mapped is _UNKNOWN:
            report.unexpected.append(raw_key)
            continue
        for name in mapped or ():  # type: ignore[union-attr]
            if name not in params:
                report.unused.append(raw_key)
                continue
            value = model.load_variable(name, tensor)
            if tuple(value.shape) != tuple(params[name].shape):
                report.mismatched.append((name, tuple(value.shape), tuple(params[name].shape)))
                continue
            _put(model, name, value, params[name], assign)
            loaded.add(name)
    return report, loaded


def _find_missing(model: ModelBase, report: LoadReport, loaded: set[str]) -> None:
    """Parameters that got nothing: *initialized* when new by construction, else *missing* (tied copies of a loaded
    parameter count as loaded; names of one shared tensor count once)."""
    new_ok = model.expected_new_parameters()
    ties = model.tied_weights()
    groups: dict[int, list[str]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        groups.setdefault(id(tensor), []).append(name)
    for names in groups.values():
        if not any(n in loaded or ties.get(n) in loaded for n in names):
            (report.initialized if any(n in new_ok for n in names) else report.missing).append(names[0])
    report.loaded = sorted(loaded)


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
            ``untie_weights``, ``tie_weights``) and ``expected_new_parameters``.
        checkpoint: a path (file, shard list, index json, folder) or an in-memory state dict.
        weight_map: checkpoint key -> our name (see the module docstring); None means the model's ``weight_map``.
        prefix: the family prefix tolerated on checkpoint keys; None means the model's ``prefix``.
        ignore_invalid_weights: warn instead of raising on missing/unexpected/mismatched keys.
        assign: the model was built on the meta device; tensors are assigned (no copy) instead of copied in.

    Returns:
        The :class:`LoadReport` (also stored as ``model.load_report``).

    Raises:
        WeightLoadingError: in strict mode, when the report is not ``ok``.
        CheckpointError: when a file cannot be read.
    """
    weight_map = dict(model.weight_map if weight_map is None else weight_map)
    # tied parameters load separately; tie_weights() decides afterwards whether the checkpoint keeps them tied
    model.untie_weights()
    report, loaded = _fill(model, checkpoint, weight_map, model.prefix if prefix is None else prefix, assign)
    _find_missing(model, report, loaded)
    model.load_report = report
    model.tie_weights()
    if not report.ok:
        _complain(model, report, weight_map, ignore_invalid_weights)
    return report
