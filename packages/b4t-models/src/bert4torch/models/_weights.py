"""Weight maps as data and checkpoint reading (the loader is ``_loading``).

The contract (for family authors):

* A family declares ``weight_map: dict[str, str | list[str] | None]`` from **checkpoint key** to **our parameter
  name** (``model.state_dict()`` key). ``{}`` is the layer-index slot: ``"bert.encoder.layer.{}.attention.self.query.weight":
  "encoderLayer.{}.multiHeadAttention.q.weight"``. A value of ``None`` means "known, drop it" (``position_ids``
  buffers, heads we never build). A list means one checkpoint tensor feeds several parameters (``albert_unshared``).
  Keys without a slot are matched literally first, so ALBERT's ``albert_layer_groups.0`` keys can stay literal.
  Layouts written by the original's convert scripts are entries of the same map (``gpt2_ml.encoder.layer.{}...``).
* A family declares ``prefix`` (``'bert'``): a checkpoint saved without it (sentence-transformers, ``BertModel``)
  loads too, because an unknown key ``k`` is retried as ``prefix + '.' + k``. Keys equal to our own parameter names
  (a ``torch.save(model.state_dict())`` file) also load.
* Renames shared by old checkpoints (``LayerNorm.gamma``/``beta``) are the declared list ``LEGACY_RENAMES``, applied
  to checkpoint keys before the map.
* Tensor surgery that depends on options (``keep_tokens``, ``compound_tokens``, ``hierarchical_position``) is the
  model's ``load_variable(name, tensor)``, which reads the tensor's shape (a file that ``save_weights`` wrote
  already has the reduced vocabulary); tensor surgery that depends on the format (GPT-2's fused qkv) is a named
  function in the family file, wired through ``convert_checkpoint_tensors`` (loading) and
  ``restore_checkpoint_tensors`` (saving). The loader talks to the model only through these methods of ``ModelBase``.
* Strict loading (``_loading``): unknown checkpoint keys (*unexpected*), a family's own parameters left without a
  value (*missing*), shape differences (*mismatched*), integer tensors for float weights and one parameter stored
  twice with different values raise ``WeightLoadingError`` naming our parameter and the checkpoint key;
  ``ignore_invalid_weights=True`` turns the error into one ``UserWarning`` and the ``LoadReport`` is still returned
  (and kept on ``model.load_report``). Known keys whose target is not built (``cls.seq_relationship`` without
  ``with_nsp``) are *unused*: reported, never an error, because the original loaded full pretraining checkpoints
  into bare encoders.
* Parameters the model knows cannot be in a pretrained checkpoint (conditional LayerNorm ``dense1/dense2``,
  ``layer_add_embs``) are listed by ``model.expected_new_parameters()`` and are initialised, not reported missing;
  those the user asked to add (heads, a subclass's layers) are listed by ``model.added_parameters()`` and are
  initialised with a notice.
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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Union

import torch

__all__ = [
    "LEGACY_RENAMES",
    "Checkpoint",
    "CheckpointError",
    "WeightMap",
    "apply_legacy_renames",
    "invert_weight_map",
    "is_unknown",
    "iter_checkpoint",
    "load_checkpoint",
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
        TypeError: for anything that is not a path or a non-empty list of paths.
        CheckpointError: when nothing loadable is there.
    """
    if not isinstance(checkpoint_path, (str, os.PathLike, list, tuple)) or checkpoint_path in ([], ()):
        raise TypeError(f"a checkpoint must be a path to a file or folder, a list of shard paths or a state dict; got "
                        f"{type(checkpoint_path).__name__} {checkpoint_path!r:.60}")
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
