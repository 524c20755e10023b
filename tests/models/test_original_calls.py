"""Issue 9's models items, each through the original's own call, config keys or converted layout.

Converted checkpoints are made here with the renames of the original's ``examples/convert_script/*.py`` (applied to
a tiny model saved by ``transformers`` or by us); numbers are checked against ``transformers`` or against the
original's formula where one exists.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from b4t_testing.models import TINY, assert_close_masked, random_inputs
from bert4torch.layers import LayerNorm
from bert4torch.models import BERT, ConfigError, build_transformer_model

tr = pytest.importorskip("transformers")

ENC = dict(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
T5_SIZES = dict(vocab_size=99, d_model=32, d_ff=64, num_layers=2, num_heads=4)
BART_SIZES = dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=32)


def _config(path: Path, **keys: Any) -> Path:
    path.write_text(json.dumps(keys))
    return path


def _hf_t5(tmp_path: Path) -> Any:
    torch.manual_seed(0)
    ref = tr.T5ForConditionalGeneration(tr.T5Config(**T5_SIZES, d_kv=8, decoder_start_token_id=0, eos_token_id=1,
                                                    pad_token_id=0)).eval()
    ref.save_pretrained(tmp_path)
    return ref


def _hf_bart(tmp_path: Path) -> Any:
    torch.manual_seed(0)
    ref = tr.BartForConditionalGeneration(tr.BartConfig(**BART_SIZES)).eval()
    with torch.no_grad():
        ref.final_logits_bias.normal_()  # transformers starts it at zero: make the surgery visible
    ref.save_pretrained(tmp_path)
    return ref


# --- M1 (item 1): config keys ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "extra"), [
    ("albert", {"net_structure_type": 0, "embedding_size": 16}),
    ("xlnet", {"summary_last_hidden_dropout_prob": 0.1, "output_past": True, "attn_type": "bi", "untie_r": True}),
    ("bert", {"max_relative_position": 64, "use_relative_position": True}),
])
def test_config_file_keys_no_family_reads_are_ignored_and_listed(tmp_path: Path, model: str, extra: dict) -> None:
    path = _config(tmp_path / "config.json", **ENC, **extra)
    built = build_transformer_model(path, model=model, segment_vocab_size=0 if model == "xlnet" else 2)
    unread = {k for k in extra if k not in ("embedding_size", "attn_type", "untie_r", "output_past")}
    assert unread <= set(built.config.ignored_keys)


def test_the_same_key_typed_as_a_keyword_raises_with_a_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'max_relative_position'.*did you mean 'max_position'"):
        build_transformer_model(**ENC, max_relative_position=64)


# --- M2 (item 4): files written by the original's convert scripts --------------------------------------------------
def _convert_deberta_v2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """convert_deberta_v2.py: 'query_proj' -> 'query', 'key_proj' -> 'key', 'value_proj' -> 'value'."""
    renames = {"query_proj": "query", "key_proj": "key", "value_proj": "value"}
    out = {}
    for key, value in state.items():
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def test_deberta_v2_file_from_convert_deberta_v2_gives_transformers_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = tr.DebertaV2Config(**TINY, relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=8,
                                max_relative_positions=16, norm_rel_ebd="layer_norm", share_att_key=True,
                                conv_kernel_size=3)
    ref = tr.DebertaV2ForMaskedLM(config).eval()
    ref.save_pretrained(tmp_path)
    converted = _convert_deberta_v2(ref.state_dict())
    assert any(".attention.self.query." in k for k in converted) and not any("query_proj" in k for k in converted)
    torch.save(converted, tmp_path / "bert4torch_pytorch_model.bin")
    ours = build_transformer_model(tmp_path / "config.json", tmp_path / "bert4torch_pytorch_model.bin",
                                   model="deberta_v2", with_mlm=True).eval()
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        theirs = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask, output_hidden_states=True)
        mine = ours([ids, seg])
    assert_close_masked(mine[0], theirs.hidden_states[-1], mask)
    assert_close_masked(mine[1], theirs.logits, mask)


def test_segment_ids_given_to_a_deberta_without_a_segment_table_are_ignored_as_transformers_does(
        tmp_path: Path) -> None:
    # Erlangshen-DeBERTa-v2 has type_vocab_size=0; the original's example passes [token_ids, segment_ids]
    torch.manual_seed(0)
    config = tr.DebertaV2Config(**{**TINY, "type_vocab_size": 0}, relative_attention=True, position_buckets=8,
                                pos_att_type=["p2c", "c2p"], max_relative_positions=16, norm_rel_ebd="layer_norm")
    ref = tr.DebertaV2ForMaskedLM(config).eval()
    ref.save_pretrained(tmp_path)
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model="deberta_v2", with_mlm=True).eval()
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        theirs = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask).logits
        assert_close_masked(ours([ids, seg])[1], theirs, mask)
        with pytest.raises(ValueError, match=r"takes inputs \[token_ids\] and got 2 more"):  # other extras are refused
            ours([ids, seg, seg])


def _convert_gpt2_ml(state: dict[str, torch.Tensor], layers: int, prefix: str = "gpt2_ml") -> dict[str, torch.Tensor]:
    """convert_gpt2__gpt2-ml.py on a GPT-2 state dict (gpt2-ml's own names are GPT-2's plus an embedding norm)."""
    out = {f"{prefix}.embeddings.word_embeddings.weight": state["wte.weight"],
           f"{prefix}.embeddings.position_embeddings.weight": state["wpe.weight"],
           f"{prefix}.embeddings.LayerNorm.weight": state["emb_norm.weight"],
           f"{prefix}.embeddings.LayerNorm.bias": state["emb_norm.bias"]}
    for i in range(layers):
        p, h = f"{prefix}.encoder.layer.{i}.", f"h.{i}."
        for name, w, b in zip(("query", "key", "value"), state[h + "attn.c_attn.weight"].chunk(3, dim=1),
                              state[h + "attn.c_attn.bias"].chunk(3, dim=0)):
            out[p + f"attention.self.{name}.weight"], out[p + f"attention.self.{name}.bias"] = w.T, b
        for theirs, ours in (("attn.c_proj", "attention.output.dense"), ("mlp.c_fc", "intermediate.dense"),
                             ("mlp.c_proj", "output.dense")):
            out[p + ours + ".weight"] = state[h + theirs + ".weight"].T
            out[p + ours + ".bias"] = state[h + theirs + ".bias"]
        for theirs, ours in (("ln_1", "attention.output.LayerNorm"), ("ln_2", "output.LayerNorm")):
            out[p + ours + ".weight"] = state[h + theirs + ".weight"]
            out[p + ours + ".bias"] = state[h + theirs + ".bias"]
    return out


def _gpt2_ml_input(layers: int, width: int, vocab: int, positions: int) -> dict[str, torch.Tensor]:
    """A tiny file in gpt2-ml's own layout (GPT-2's Conv1D names plus ``emb_norm``), the convert script's input."""
    torch.manual_seed(0)
    shapes = {"wte.weight": (vocab, width), "wpe.weight": (positions, width), "emb_norm.weight": (width,),
              "emb_norm.bias": (width,)}
    for i in range(layers):
        h = f"h.{i}."
        shapes.update({h + "attn.c_attn.weight": (width, 3 * width), h + "attn.c_attn.bias": (3 * width,),
                       h + "attn.c_proj.weight": (width, width), h + "attn.c_proj.bias": (width,),
                       h + "mlp.c_fc.weight": (width, 2 * width), h + "mlp.c_fc.bias": (2 * width,),
                       h + "mlp.c_proj.weight": (2 * width, width), h + "mlp.c_proj.bias": (width,),
                       h + "ln_1.weight": (width,), h + "ln_1.bias": (width,), h + "ln_2.weight": (width,),
                       h + "ln_2.bias": (width,)})
    return {k: torch.randn(shape) for k, shape in shapes.items()}


def test_gpt2_ml_file_from_convert_gpt2_ml_loads_each_tensor_where_the_script_put_it(tmp_path: Path) -> None:
    raw = _gpt2_ml_input(layers=2, width=32, vocab=99, positions=16)
    torch.save(_convert_gpt2_ml(raw, layers=2), tmp_path / "bert4torch_pytorch_model.bin")
    ours = build_transformer_model(None, tmp_path / "bert4torch_pytorch_model.bin", model="gpt2_ml", vocab_size=99,
                                   hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                   max_position=16, segment_vocab_size=0)
    assert ours.load_report.ok and not ours.load_report.initialized
    assert torch.equal(ours.embeddings.layerNorm.weight, raw["emb_norm.weight"])
    for i, layer in enumerate(ours.encoderLayer):
        q, k, v = raw[f"h.{i}.attn.c_attn.weight"].chunk(3, dim=1)
        assert torch.equal(layer.multiHeadAttention.k.weight, k.T)
        assert torch.equal(layer.feedForward.intermediateDense.weight, raw[f"h.{i}.mlp.c_fc.weight"].T)
        assert torch.equal(layer.layerNorm1.weight, raw[f"h.{i}.ln_1.weight"])  # before the FFN (gpt2-ml's ln_1)
        assert torch.equal(layer.layerNorm2.weight, raw[f"h.{i}.ln_2.weight"])


def test_gau_alpha_file_from_convert_gau_alpha_loads_without_the_mlm_head(tmp_path: Path) -> None:
    sizes = dict(**ENC, attention_key_size=16, segment_vocab_size=2)
    state = build_transformer_model(model="gau_alpha", **sizes, add_trainer=False).state_dict()
    state["mlmDecoder.weight"] = state["embeddings.word_embeddings.weight"]  # as convert_GAU_alpha.py writes it
    torch.save(state, tmp_path / "pytorch_model.bin")
    plain = build_transformer_model(None, tmp_path / "pytorch_model.bin", model="gau_alpha", **sizes)
    assert plain.load_report.ok and "mlmDecoder.weight" not in plain.load_report.unexpected
    mlm = build_transformer_model(None, tmp_path / "pytorch_model.bin", model="gau_alpha", with_mlm=True, **sizes)
    assert torch.equal(mlm.mlmDecoder.weight, state["mlmDecoder.weight"])


# --- M3 (item 5): what the user asked to add is initialised ----------------------------------------------------------
def test_hierarchical_position_rows_follow_the_original_formula(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tr.BertModel(tr.BertConfig(**TINY)).save_pretrained(tmp_path)
    table = tr.BertModel.from_pretrained(tmp_path).embeddings.position_embeddings.weight.detach()
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, hierarchical_position=True, max_position=200)
    # the original's load_pos_embeddings: u = (E - a E[0]) / (1 - a); row i = a u[i // n] + (1 - a) u[i % n]
    alpha, n = 0.4, table.shape[0]
    u = (table - alpha * table[:1]) / (1 - alpha)
    expected = torch.stack([alpha * u[i // n] + (1 - alpha) * u[i % n] for i in range(200)])
    got = ours.embeddings.position_embeddings.weight.detach()
    assert got.shape == (200, TINY["hidden_size"])
    assert (got - expected).abs().max().item() <= 1e-5
    assert (got[:n] - table).abs().max().item() <= 1e-5  # the checkpoint's own rows are unchanged


def test_with_pool_on_a_file_without_a_pooler_initialises_it_and_lists_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tr.RoFormerForMaskedLM(tr.RoFormerConfig(**TINY)).save_pretrained(tmp_path)
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model="roformer", with_pool=True)
    assert {"pooler.weight", "pooler.bias"} <= set(ours.load_report.initialized)
    assert torch.isfinite(ours.pooler.weight).all() and ours.pooler.weight.std() > 0
    assert torch.equal(ours.pooler.bias, torch.zeros_like(ours.pooler.bias))


class _Theseus(BERT):
    """BERT-of-Theseus' model: a subclass adding layers of its own (``scc_layer``)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.scc_layer = nn.ModuleList([nn.Linear(self.hidden_size, self.hidden_size)])


def test_a_subclass_adding_layers_loads_and_lists_them(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tr.BertModel(tr.BertConfig(**TINY)).save_pretrained(tmp_path)
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model=_Theseus)
    assert {"scc_layer.0.weight", "scc_layer.0.bias"} <= set(ours.load_report.initialized)
    assert torch.isfinite(ours.scc_layer[0].weight).all()


def test_strict_base_weights_still_refuse_a_missing_layer(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = tr.BertModel(tr.BertConfig(**TINY)).state_dict()
    del state["encoder.layer.1.output.dense.weight"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(Exception, match="ignore_invalid_weights=True"):
        build_transformer_model(None, tmp_path / "pytorch_model.bin", **{**TINY, "type_vocab_size": 2})


# --- M5 (item 6): the encoder's predict gives [hidden, mask]; the original's decoding loop -------------------------
def test_seq2seq_encoder_predict_returns_hidden_and_mask_and_the_decoding_loop_matches_transformers(
        tmp_path: Path) -> None:
    generation = pytest.importorskip("bert4torch.generation")
    ref = _hf_t5(tmp_path)
    model = build_transformer_model(tmp_path / "config.json", tmp_path, model="t5.1.0", segment_vocab_size=0)
    enc = torch.tensor([[5, 17, 42, 8, 23, 61, 7]])
    encoder_output = model.encoder.predict([enc])
    assert isinstance(encoder_output, list) and len(encoder_output) == 2
    hidden, mask = encoder_output
    assert hidden.shape == (1, 7, 32) and mask.tolist() == [[1] * 7]
    with torch.no_grad():
        assert (hidden - ref.encoder(input_ids=enc).last_hidden_state).abs().max().item() <= 1e-5

    class AutoTitle(generation.AutoRegressiveDecoder):  # the original's t5_pegasus / csl_bart example
        @generation.AutoRegressiveDecoder.wraps(default_rtype="logits")
        def predict(self, inputs, output_ids, states):
            return model.decoder.predict([output_ids] + inputs)[-1][:, -1, :]

    ours = AutoTitle(start_id=0, end_id=1, maxlen=8).beam_search(encoder_output, topk=1)
    theirs = ref.generate(input_ids=enc, max_new_tokens=8, do_sample=False, num_beams=1)[0]
    assert ours.tolist() == theirs.tolist()


def test_bart_decoder_stack_takes_the_encoder_predict_list(tmp_path: Path) -> None:
    ref = _hf_bart(tmp_path)
    model = build_transformer_model(tmp_path / "config.json", tmp_path, model="bart", segment_vocab_size=0)
    enc, dec = torch.tensor([[0, 5, 17, 42, 2]]), torch.tensor([[2, 0, 9, 33]])
    logits = model.decoder.predict([dec] + model.encoder.predict([enc]))[-1]
    with torch.no_grad():
        expected = ref(input_ids=enc, decoder_input_ids=dec).logits
    assert (logits - expected).abs().max().item() <= 1e-5


# --- M6 (item 7): a T5 config without d_kv ----------------------------------------------------------------------------
def test_t5_config_without_d_kv_takes_d_model_over_heads(tmp_path: Path) -> None:
    ref = _hf_t5(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["d_kv"]
    path = _config(tmp_path / "no_d_kv.json", **config)
    ours = build_transformer_model(path, tmp_path / "model.safetensors", model="t5.1.0", segment_vocab_size=0).eval()
    assert ours.config.d_kv == T5_SIZES["d_model"] // T5_SIZES["num_heads"]
    enc, dec = torch.tensor([[5, 17, 42, 8]]), torch.tensor([[0, 9, 33]])
    with torch.no_grad():
        assert (ours([[enc], [dec]])[-1] - ref(input_ids=enc, decoder_input_ids=dec).logits).abs().max() <= 1e-5


# --- M7 (item 7) and bug 2: keep_tokens for T5 and BART, and save/load round trips --------------------------------
KEEP = [0, 1, 2, 3, 5, 8, 9, 17, 33, 42, 50, 98]


def _kept(ids: list[int]) -> torch.Tensor:
    return torch.tensor([[KEEP.index(i) for i in ids]])


@pytest.mark.parametrize("family", ["t5.1.0", "bart"])
def test_keep_tokens_cuts_the_shared_embedding_head_and_bias(tmp_path: Path, family: str) -> None:
    ref = _hf_t5(tmp_path) if family == "t5.1.0" else _hf_bart(tmp_path)
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model=family, segment_vocab_size=0,
                                   keep_tokens=KEEP).eval()
    assert ours.encoder.embeddings.word_embeddings.weight.shape[0] == len(KEEP)
    enc, dec = [3, 5, 17, 42, 8, 2], [2, 9, 33, 50]  # no padding id in the encoder (BART pads with 1, T5 with 0)
    with torch.no_grad():
        expected = ref(input_ids=torch.tensor([enc]), decoder_input_ids=torch.tensor([dec])).logits[..., KEEP]
        got = ours([[_kept(enc)], [_kept(dec)]])[-1]
    assert (got - expected).abs().max().item() <= 1e-5
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    ours.save_weights(tmp_path / "kept.pt")
    ours.load_weights(tmp_path / "kept.pt")  # the surgery is not applied to the rows it already cut
    again = build_transformer_model(tmp_path / "config.json", tmp_path / "kept.pt", model=family,
                                    segment_vocab_size=0, keep_tokens=KEEP)
    for name, tensor in before.items():
        assert torch.equal(ours.state_dict()[name], tensor), name
        assert torch.equal(again.state_dict()[name], tensor), name


def test_keep_tokens_save_then_load_round_trips_a_bert_exactly(tmp_path: Path) -> None:
    model = build_transformer_model(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                    intermediate_size=64, with_mlm=True, keep_tokens=[0, 1, 2, 3, 50, 99])
    with torch.no_grad():
        model.mlmBias.normal_()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.save_weights(tmp_path / "keep.pt")
    model.load_weights(tmp_path / "keep.pt")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


# --- M8: is_decoder=True on a BERT (TSDAE's decoder) ---------------------------------------------------------------
def test_is_decoder_bert_matches_transformers_cross_attention_decoder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = tr.BertModel(tr.BertConfig(**TINY, is_decoder=True, add_cross_attention=True)).eval()
    ref.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    bert_config = _config(tmp_path / "bert_config.json",  # a BERT config as TSDAE's example reads it
                          **{k: v for k, v in config.items() if k not in ("is_decoder", "add_cross_attention")})
    ours = build_transformer_model(bert_config, tmp_path, application="lm", is_decoder=True).eval()
    ids = torch.tensor([[5, 17, 42, 8, 23]])
    encoder_hidden, encoder_mask = torch.randn(1, 4, TINY["hidden_size"]), torch.tensor([[1, 1, 1, 0]])
    with torch.no_grad():
        theirs = ref(input_ids=ids, encoder_hidden_states=encoder_hidden,
                     encoder_attention_mask=encoder_mask).last_hidden_state
        mine = ours([ids, torch.zeros_like(ids), encoder_hidden, encoder_mask])[0]
    assert (mine - theirs).abs().max().item() <= 1e-5


# --- M9: LayerNorm over a channel axis --------------------------------------------------------------------------------
def test_layer_norm_dim_index_normalises_the_channel_axis() -> None:
    torch.manual_seed(0)
    norm = LayerNorm((1, 4, 1, 1), dim_index=1)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 4, 3, 3)
    expected = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (4,), norm.weight.view(4), norm.bias.view(4),
                                              norm.eps).permute(0, 3, 1, 2)
    assert (norm(x) - expected).abs().max().item() <= 1e-5


# --- M10: compound_tokens naming a new id ----------------------------------------------------------------------------
def test_compound_tokens_for_a_new_id_start_as_the_mean_of_every_row(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    tr.BertModel(tr.BertConfig(**TINY)).save_pretrained(tmp_path)
    table = tr.BertModel.from_pretrained(tmp_path).embeddings.word_embeddings.weight.detach()
    with caplog.at_level(logging.WARNING, logger="bert4torch.models"):
        ours = build_transformer_model(tmp_path / "config.json", tmp_path, compound_tokens=[[TINY["vocab_size"]]])
    rows = ours.embeddings.word_embeddings.weight.detach()
    assert rows.shape[0] == TINY["vocab_size"] + 1 and torch.equal(rows[:-1], table)
    assert (rows[-1] - table.mean(0)).abs().max().item() <= 1e-6
    assert "outside" in caplog.text


# --- XLNet (item 7): hidden states without with_lm --------------------------------------------------------------------
def test_xlnet_without_with_lm_returns_transformers_hidden_states(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = tr.XLNetLMHeadModel(tr.XLNetConfig(vocab_size=99, d_model=32, n_layer=2, n_head=4, d_inner=37)).eval()
    ref.save_pretrained(tmp_path)
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model="xlnet").eval()
    ids, seg = torch.randint(6, 99, (2, 7)), torch.tensor([[0, 0, 0, 1, 1, 1, 1]] * 2)
    with torch.no_grad():
        mine = ours([ids, seg])
        theirs = ref.transformer(ids, token_type_ids=seg).last_hidden_state
    assert mine.shape == (2, 7, 32)
    assert (mine - theirs).abs().max().item() <= 1e-5
    assert "lm_loss.weight" in ours.load_report.unused or "lm_loss.bias" in ours.load_report.unused


# --- bug 1: an MLM bias the checkpoint lacks --------------------------------------------------------------------------
def test_a_missing_mlm_bias_is_initialised_at_zero_and_listed(tmp_path: Path) -> None:
    cfg = dict(vocab_size=5000, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    build_transformer_model(**cfg).save_weights(tmp_path / "enc.pt")
    model = build_transformer_model(None, tmp_path / "enc.pt", with_mlm=True, ignore_invalid_weights=True, **cfg)
    assert torch.equal(model.mlmBias, torch.zeros(5000))
    assert "mlmBias" in model.load_report.initialized


def test_a_negative_padding_id_pads_a_t5_batch_as_in_the_mt5_example(tmp_path: Path) -> None:
    _hf_t5(tmp_path)
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model="t5.1.0", segment_vocab_size=0,
                                   token_pad_ids=-100).eval()
    row, dec = torch.tensor([[5, 17, 42]]), torch.tensor([[0, 9, 33]])
    padded = torch.tensor([[5, 17, 42, -100, -100]])
    with torch.no_grad():
        assert (ours([[padded], [dec]])[-1] - ours([[row], [dec]])[-1]).abs().max().item() <= 1e-5


def test_generate_refuses_ids_past_the_rows_keep_tokens_left(tmp_path: Path) -> None:
    generate = pytest.importorskip("bert4torch.generation").generate
    _hf_t5(tmp_path)
    ours = build_transformer_model(tmp_path / "config.json", tmp_path, model="t5.1.0", segment_vocab_size=0,
                                   keep_tokens=KEEP).eval()
    assert generate(ours, _kept([3, 5, 17]), max_new_tokens=2).shape[0] == 1
    with pytest.raises(ValueError, match=rf"input_ids must be token ids in \[0, {len(KEEP)}\)"):
        generate(ours, torch.tensor([[3, len(KEEP)]]), max_new_tokens=2)
