"""A short smoke test of whatever b4t distributions are installed: run inside a fresh venv by tools/check_index.py.

Each part runs when its distribution imports: tokenize (b4t-tokenizers), build a tiny encoder (b4t-models), one
``fit`` step (b4t-trainer), one ``generate`` call (b4t-generation), one serving request (b4t-serving).
Usage: python smoke.py PART [PART ...]   (parts: tokenize model fit generate serve)
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from pathlib import Path

TINY = dict(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            max_position=32)


def tokenize() -> None:
    from bert4torch.tokenizers import Tokenizer

    vocab = Path(tempfile.mkdtemp()) / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]) + "\n")
    ids, segs = Tokenizer(str(vocab)).encode("hello worlds")
    assert ids == [2, 5, 6, 7, 3] and segs == [0] * 5, (ids, segs)


def model() -> None:
    import torch

    from bert4torch.models import build_transformer_model

    out = build_transformer_model(None, model="bert", **TINY)(torch.tensor([[1, 2, 3]]))
    assert tuple(out.shape) == (1, 3, 16), out.shape


def fit() -> None:
    import torch

    from bert4torch.models import build_transformer_model

    net = build_transformer_model(None, model="bert", with_pool=True, **TINY)
    net.compile(loss=lambda y_pred, y: y_pred[1].pow(2).mean(), optimizer=torch.optim.SGD(net.parameters(), lr=0.1))
    ids = torch.randint(1, 50, (4, 6))
    loader = torch.utils.data.DataLoader(list(zip(ids, ids[:, 0])), batch_size=4)
    history = net.fit(loader, epochs=1, steps_per_epoch=1, verbose=0)
    assert history is not None


def generate() -> None:
    import torch

    from bert4torch.generation import generate as gen
    from bert4torch.models import build_transformer_model

    lm = build_transformer_model(None, model="gpt2", **TINY).eval()
    out = gen(lm, torch.tensor([[1, 2, 3]]), max_new_tokens=3)
    assert out.shape[-1] in (3, 6), out.shape


def serve() -> None:
    from bert4torch.serving import WebServing

    web = WebServing(host="127.0.0.1", port=0)
    web.route("/echo", lambda text: text[::-1], {"text": (None, True)})
    host, port = web.bind()
    web.start_in_thread()
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/echo?text=abc", timeout=10) as r:
            body = json.loads(r.read())
    finally:
        web.shutdown()
    assert "cba" in json.dumps(body), body


if __name__ == "__main__":
    for part in sys.argv[1:]:
        globals()[part]()
        print(f"smoke {part}: ok")
