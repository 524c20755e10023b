"""build_transformer_model options: vocabulary surgery, custom inputs, conditional LayerNorm, layers, loading mode."""

from __future__ import annotations

import pytest
import torch

from b4t_testing.models import TINY, assert_close_masked, random_inputs
from bert4torch.models import BERT, ConfigError, build_transformer_model, load_checkpoint

tr = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    ref = tr.BertForPreTraining(tr.BertConfig(**TINY)).eval()
    path = tmp_path_factory.mktemp("opts")
    ref.save_pretrained(str(path))
    return ref, path


def _build(path, **kw):
    return build_transformer_model(path / "config.json", path, **kw).eval()


def test_keep_tokens_and_multi_id_compound_tokens(ckpt):
    _, path = ckpt
    state = load_checkpoint(path)
    word = state["bert.embeddings.word_embeddings.weight"]
    keep = [0, 5, 7, 9, 11]
    model = _build(path, keep_tokens=keep, compound_tokens=[[1, 2], [3]], with_mlm=True)
    emb = model.embeddings.word_embeddings.weight
    assert emb.shape == (len(keep) + 2, 32)
    assert torch.equal(emb[:5], word[keep])
    kept = word[keep]
    assert torch.allclose(emb[5], kept[[1, 2]].mean(0)) and torch.allclose(emb[6], kept[3])
    assert model.mlmBias.shape == (7,)
    assert model([torch.tensor([[1, 5, 6]]), torch.zeros(1, 3, dtype=torch.long)])[1].shape == (1, 3, 7)


def test_custom_position_ids_are_used(ckpt):
    ref, path = ckpt
    model = _build(path, custom_position_ids=True)
    ids, seg, mask = random_inputs()
    pos = torch.arange(ids.shape[1]).flip(0).expand_as(ids).contiguous()
    with torch.no_grad():
        ours = model([ids, seg, pos])
        theirs = ref.bert(input_ids=ids, token_type_ids=seg, attention_mask=mask, position_ids=pos).last_hidden_state
    assert_close_masked(ours, theirs, mask)


def test_custom_attention_mask(ckpt):
    ref, path = ckpt
    model = _build(path, custom_attention_mask=True)
    ids, seg, mask = random_inputs()
    custom = mask.clone()
    custom[0, 3] = 0  # hide a real token
    with torch.no_grad():
        ours = model([ids, seg, custom])
        theirs = ref.bert(input_ids=ids, token_type_ids=seg, attention_mask=custom).last_hidden_state
    assert_close_masked(ours, theirs, custom)


def test_layer_norm_cond_and_layer_add_embs_load_strictly(ckpt):
    ref, path = ckpt
    cond = torch.nn.Embedding(3, 8)
    extra = torch.nn.Embedding(5, 32)
    torch.nn.init.zeros_(extra.weight)
    model = _build(path, layer_norm_cond=cond, layer_add_embs=extra)
    assert model.load_report.ok and model.load_report.initialized
    ids, seg, mask = random_inputs()
    label = torch.tensor([0, 1, 2])
    with torch.no_grad():
        ours = model([ids, seg, label, torch.zeros_like(ids)])
        theirs = ref.bert(input_ids=ids, token_type_ids=seg, attention_mask=mask).last_hidden_state
    # conditional LayerNorm starts as the identity on the pretrained model, zero extra embeddings add nothing
    assert_close_masked(ours, theirs, mask)
    assert any(".dense1." in n for n, _ in model.named_parameters())


def test_keep_hidden_layers_and_output_all(ckpt):
    _, path = ckpt
    model = _build(path, keep_hidden_layers=[0], output_all_encoded_layers=True, ignore_invalid_weights=True)
    ids, seg, _ = random_inputs()
    with torch.no_grad():
        layers = model([ids, seg])
    assert len(layers) == 3 and torch.equal(layers[1], layers[2])


def test_hierarchical_position_extends_and_keeps_short_positions(ckpt):
    _, path = ckpt
    plain = _build(path)
    hier = _build(path, hierarchical_position=True)
    ids, seg, _ = random_inputs()
    with torch.no_grad():
        assert torch.allclose(plain([ids, seg]), hier([ids, seg]), atol=1e-5)
        long_ids = torch.randint(1, 99, (1, 150))  # beyond max_position=64
        assert hier([long_ids, torch.zeros_like(long_ids)]).shape == (1, 150, 32)


def test_attention_head_size_need_not_divide_hidden():
    model = build_transformer_model(vocab_size=99, hidden_size=30, num_hidden_layers=1, num_attention_heads=4,
                                    intermediate_size=20, attention_head_size=16)
    assert model.encoderLayer[0].multiHeadAttention.q.weight.shape == (64, 30)
    ids, seg, _ = random_inputs()
    assert model([ids, seg]).shape == (3, 11, 30)


def test_gradient_checkpoint_gives_the_same_gradients():
    torch.manual_seed(0)
    a = build_transformer_model(**TINY)
    b = build_transformer_model(**TINY, gradient_checkpoint=True)
    b.load_state_dict(a.state_dict())
    ids, seg, _ = random_inputs()
    for m in (a, b):
        m.train()
        m([ids, seg]).sum().backward()
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), n


def test_token_pad_ids_and_segment_vocab_zero(ckpt):
    ref, path = ckpt
    model = _build(path, token_pad_ids=5)
    ids, seg, _ = random_inputs()
    ids[ids == 5] = 6
    ids[1, -3:] = 5  # padding with id 5
    mask = (ids != 5).long()
    with torch.no_grad():
        ours = model([ids, seg])
        theirs = ref.bert(input_ids=ids, token_type_ids=seg, attention_mask=mask).last_hidden_state
    assert_close_masked(ours, theirs, mask)
    bare = build_transformer_model(**{**TINY, "type_vocab_size": 0})
    assert not hasattr(bare.embeddings, "segment_embeddings")
    assert bare(ids).shape == (3, 11, 32)


def test_dropout_options_and_unknown_option():
    model = build_transformer_model(**{**TINY, "attention_probs_dropout_prob": 0.2}, dropout_rate=0.3)
    assert model.encoderLayer[0].dropout1.p == 0.3 and model.encoderLayer[0].multiHeadAttention.attention_probs_dropout_prob == 0.2
    with pytest.raises(ConfigError, match="dropout_rate"):
        build_transformer_model(**TINY, dropout_rat=0.1)


def test_checkpoint_load_builds_on_meta_without_random_init(ckpt, monkeypatch):
    _, path = ckpt
    seen = []
    original = BERT.init_model_weights

    def spy(self, module):
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor):
            seen.append(weight.is_meta)
        return original(self, module)

    monkeypatch.setattr(BERT, "init_model_weights", spy)
    model = _build(path, with_mlm=True)
    assert seen and all(seen), "random init ran on real tensors while loading a checkpoint"
    assert not any(p.is_meta for p in model.parameters())
    assert model.mlmDecoder.weight is model.embeddings.word_embeddings.weight
    state = load_checkpoint(path)
    assert torch.equal(model.embeddings.word_embeddings.weight, state["bert.embeddings.word_embeddings.weight"])


def test_roformer_custom_position_ids_reach_the_rotary_layers():
    opts = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position=64)
    torch.manual_seed(0)
    model = build_transformer_model(model="roformer", custom_position_ids=True, **opts).eval()
    with torch.no_grad():  # larger weights than the init so attention is far from uniform and positions matter
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    ids, seg, _ = random_inputs()
    arange = torch.arange(ids.shape[1]).expand_as(ids)
    with torch.no_grad():
        default = build_transformer_model(model="roformer", **opts)
        default.load_state_dict(model.state_dict())
        assert torch.allclose(model([ids, seg, arange]), default.eval()([ids, seg]), atol=1e-6)
        shifted = model([ids, seg, arange + 5])
    # RoPE depends on relative positions only: a constant shift changes nothing
    assert torch.allclose(shifted, model([ids, seg, arange]), atol=1e-4)
    assert not torch.allclose(model([ids, seg, arange.flip(1)]), shifted, atol=1e-3)


def test_too_long_input_names_the_fix():
    model = build_transformer_model(**TINY)
    ids = torch.randint(1, 99, (1, 70))
    with pytest.raises(ValueError, match="hierarchical_position"):
        model([ids, torch.zeros_like(ids)])
