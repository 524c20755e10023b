"""Parity with transformers for every encoder family it has a class for, heads included, and back again.

A tiny random model is saved by transformers, loaded by us through ``build_transformer_model`` (config.json as
is), compared at non-padding positions within 1e-5, then saved by our ``save_pretrained`` and loaded back by
transformers into its own class with identical outputs.
"""

from __future__ import annotations

import pytest
import torch

from b4t_testing.models import TINY, assert_close_masked, random_inputs
from bert4torch.models import build_transformer_model

tr = pytest.importorskip("transformers")


def _run_ref(model, ids, seg, mask):
    with torch.no_grad():
        return model(input_ids=ids, token_type_ids=seg, attention_mask=mask, output_hidden_states=True)


CASES = {
    # family: (config class, extra config, pretraining class, our kwargs, [(our output index, ref attribute)])
    "roberta": ("RobertaConfig", dict(pad_token_id=1, max_position_embeddings=70, type_vocab_size=1),
                "RobertaForMaskedLM", dict(with_mlm=True), [(1, "logits")]),
    "albert": ("AlbertConfig", dict(embedding_size=16), "AlbertForPreTraining",
               dict(with_pool=True, with_mlm=True, with_nsp=True), [(2, "prediction_logits"), (3, "sop_logits")]),
    "electra": ("ElectraConfig", dict(embedding_size=16), "ElectraForPreTraining",
                dict(with_discriminator=True), [(1, "logits")]),
    "ernie": ("ErnieConfig", dict(use_task_id=True), "ErnieForPreTraining",
              dict(with_pool=True, with_mlm=True, with_nsp=True), [(2, "prediction_logits"), (3, "seq_relationship_logits")]),
    "roformer": ("RoFormerConfig", dict(embedding_size=16), "RoFormerForMaskedLM", dict(with_mlm=True), [(1, "logits")]),
    "deberta_v2": ("DebertaV2Config", dict(relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=8,
                                           max_relative_positions=16, norm_rel_ebd="layer_norm", share_att_key=True,
                                           conv_kernel_size=3, type_vocab_size=2),
                   "DebertaV2ForMaskedLM", dict(with_mlm=True), [(1, "logits")]),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def family(request, tmp_path_factory):
    name = request.param
    cfg_cls, extra, cls_name, kwargs, outs = CASES[name]
    torch.manual_seed(0)
    config = getattr(tr, cfg_cls)(**{**TINY, **extra})
    ref = getattr(tr, cls_name)(config).eval()
    path = tmp_path_factory.mktemp(name)
    ref.save_pretrained(str(path))
    return name, ref, path, kwargs, outs


def _inputs(name):
    pad = 1 if name == "roberta" else 0
    ids, seg, mask = random_inputs(pad=pad)
    if name == "roberta":
        ids[ids == 1] = 2
        ids[mask == 0] = 1
        seg = torch.zeros_like(seg)
    return ids, seg, mask


def test_parity_with_transformers(family):
    name, ref, path, kwargs, outs = family
    ours = build_transformer_model(path / "config.json", path, model=name, **kwargs).eval()
    assert ours.load_report.ok
    ids, seg, mask = _inputs(name)
    r = _run_ref(ref, ids, seg, mask)
    with torch.no_grad():
        got = ours([ids, seg])
    assert_close_masked(got[0], r.hidden_states[-1], mask)
    for index, attr in outs:
        assert_close_masked(got[index], getattr(r, attr), mask)


def test_save_pretrained_loads_back_into_transformers(family, tmp_path):
    name, ref, path, kwargs, outs = family
    ours = build_transformer_model(path / "config.json", path, model=name, **kwargs).eval()
    ours.save_pretrained(tmp_path)
    back = type(ref).from_pretrained(str(tmp_path)).eval()
    ids, seg, mask = _inputs(name)
    a, b = _run_ref(ref, ids, seg, mask), _run_ref(back, ids, seg, mask)
    for _, attr in outs:
        assert torch.equal(getattr(a, attr), getattr(b, attr)), attr
    # and ours again from our own save
    again = build_transformer_model(tmp_path / "config.json", tmp_path, model=name, **kwargs).eval()
    with torch.no_grad():
        assert torch.equal(again([ids, seg])[1], ours([ids, seg])[1])


def test_albert_unshared_loads_the_shared_layer_into_every_layer(tmp_path):
    torch.manual_seed(0)
    ref = tr.AlbertModel(tr.AlbertConfig(**{**TINY, "embedding_size": 16})).eval()
    ref.save_pretrained(str(tmp_path))
    shared = build_transformer_model(tmp_path / "config.json", tmp_path, model="albert").eval()
    unshared = build_transformer_model(tmp_path / "config.json", tmp_path, model="albert_unshared").eval()
    assert len(unshared.encoderLayer) == TINY["num_hidden_layers"]
    assert unshared.encoderLayer[0].multiHeadAttention.q.weight is not unshared.encoderLayer[1].multiHeadAttention.q.weight
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        a, b = shared([ids, seg]), unshared([ids, seg])
        r = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask).last_hidden_state
    assert_close_masked(a, r, mask)
    assert_close_masked(b, r, mask)


def test_roberta_name_loads_chinese_wwm_bert_layout(tmp_path):
    """The original's 'roberta' was the BERT class: Chinese RoBERTa-wwm files are BERT files with BERT configs."""
    torch.manual_seed(0)
    ref = tr.BertForPreTraining(tr.BertConfig(**TINY)).eval()
    ref.save_pretrained(str(tmp_path))
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model="roberta", with_mlm=True).eval()
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        got = ours([ids, seg])
        r = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask)
    assert_close_masked(got[1], r.prediction_logits, mask)


def test_albert_unshared_save_pretrained_is_a_grouped_transformers_albert(tmp_path):
    torch.manual_seed(0)
    tr.AlbertModel(tr.AlbertConfig(**{**TINY, "embedding_size": 16})).save_pretrained(str(tmp_path / "src"))
    model = build_transformer_model(tmp_path / "src" / "config.json", tmp_path / "src", model="albert_unshared").eval()
    with torch.no_grad():  # make the layers really different
        model.encoderLayer[1].feedForward.outputDense.weight.mul_(-1.5)
    model.save_pretrained(tmp_path / "out")
    back = tr.AlbertModel.from_pretrained(str(tmp_path / "out")).eval()
    assert back.config.num_hidden_groups == TINY["num_hidden_layers"]
    again = build_transformer_model(tmp_path / "out" / "config.json", tmp_path / "out", model="albert_unshared").eval()
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        ours = model([ids, seg])
        assert_close_masked(back(input_ids=ids, token_type_ids=seg, attention_mask=mask).last_hidden_state, ours, mask)
        assert torch.equal(again([ids, seg]), ours)
