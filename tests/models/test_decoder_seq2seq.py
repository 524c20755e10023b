"""Encoder-decoder families (t5 v1.0, t5 v1.1, mt5, bart): parity with transformers, cross-attention cache,
left padding, round trip. Every reference is a tiny random `transformers` model saved to tmp_path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert4torch.models import ConfigError, build_transformer_model  # noqa: E402
from bert4torch.models import t5 as t5_mod  # noqa: E402

ATOL = 1e-5
PAD = 0


@dataclass
class Family:
    name: str  # the `model=` name
    make_reference: Callable[[], Any]
    pad: int = 0


def _t5_cfg(**kw: Any) -> Any:
    return dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=3, num_heads=4,
                relative_attention_num_buckets=8, relative_attention_max_distance=20, decoder_start_token_id=0, **kw)


def _t5_ref() -> Any:
    return transformers.T5ForConditionalGeneration(transformers.T5Config(**_t5_cfg()))


def _t511_ref() -> Any:
    cfg = transformers.T5Config(**_t5_cfg(feed_forward_proj="gated-gelu", tie_word_embeddings=False))
    return transformers.T5ForConditionalGeneration(cfg)


def _mt5_ref() -> Any:
    return transformers.MT5ForConditionalGeneration(transformers.MT5Config(**_t5_cfg()))


def _bart_ref() -> Any:
    cfg = transformers.BartConfig(
        vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BartForConditionalGeneration(cfg)
    with torch.no_grad():  # a non-zero logits bias, so the test sees it
        model.final_logits_bias.normal_()
    return model


FAMILIES = [
    Family("bart", _bart_ref, pad=1),
    Family("t5.1.0", _t5_ref),
    Family("t5.1.1", _t511_ref),
    Family("mt5.1.1", _mt5_ref),
]


def build(folder: Path, model: str) -> Any:
    return build_transformer_model(config_path=folder, checkpoint_path=folder, model=model).eval()


@pytest.fixture(params=FAMILIES, ids=lambda f: f.name)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Family, Any, Any, Path]:
    fam = request.param
    torch.manual_seed(0)
    ref = fam.make_reference().eval()
    ref.save_pretrained(tmp_path)
    return fam, ref, build(tmp_path, fam.name), tmp_path


def _ids(batch: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 99, (batch, length), generator=g)


def _encoder_batch(fam: Family) -> tuple[torch.Tensor, torch.Tensor]:
    enc = _ids(2, 7, seed=1)
    enc[1, 5:] = fam.pad  # right padding in the second row exercises the encoder mask
    return enc, enc != fam.pad


def test_logits_match_transformers(pair) -> None:
    fam, ref, ours, _ = pair
    enc, enc_mask = _encoder_batch(fam)
    dec = _ids(2, 6, seed=2)
    with torch.inference_mode():
        theirs = ref(input_ids=enc, attention_mask=enc_mask.long(), decoder_input_ids=dec)
        enc_hidden, dec_hidden, logits = ours([[enc], [dec]])
    assert (logits - theirs.logits).abs().max().item() <= ATOL
    assert (enc_hidden - theirs.encoder_last_hidden_state)[enc_mask].abs().max().item() <= ATOL


def test_cached_steps_equal_full_forward(pair) -> None:
    fam, _, ours, _ = pair
    enc, _ = _encoder_batch(fam)
    dec = _ids(2, 8, seed=3)
    with torch.inference_mode():
        full = ours([[enc], [dec]])[-1]
        outputs, cache = ours([[enc], [dec[:, :3]]], use_cache=True)
        steps = [outputs[-1]]
        for t in range(3, 8):
            outputs, cache = ours([None, [dec[:, t : t + 1]]], past_key_values=cache, use_cache=True)
            assert len(outputs) == 2  # the encoder did not run again
            steps.append(outputs[-1])
    assert len(cache.cross_attn) == len(cache.self_attn) == 3
    assert (torch.cat(steps, dim=1) - full).abs().max().item() <= ATOL


def test_left_padded_decoder_row_equals_unpadded_row(pair) -> None:
    fam, _, ours, _ = pair
    enc, _ = _encoder_batch(fam)
    short, long = _ids(1, 3, seed=4), _ids(1, 5, seed=5)
    dec = torch.cat([torch.cat([torch.full((1, 2), 7), short], dim=1), long])
    dec_mask = torch.ones_like(dec, dtype=torch.bool)
    dec_mask[0, :2] = False
    new = _ids(2, 2, seed=6)
    with torch.inference_mode():
        alone = ours([[enc[:1]], [torch.cat([short, new[:1]], dim=1)]])[-1]
        outputs, cache = ours([[enc], [dec]], decoder_attention_mask=dec_mask, use_cache=True)
        steps = [outputs[-1]]
        for t in range(2):
            outputs, cache = ours([None, [new[:, t : t + 1]]], past_key_values=cache, use_cache=True)
            steps.append(outputs[-1])
    got = torch.cat(steps, dim=1)[0, 2:]
    assert (got - alone[0]).abs().max().item() <= ATOL


def test_round_trip_into_transformers(pair, tmp_path: Path) -> None:
    fam, ref, ours, _ = pair
    out = tmp_path / "back"
    ours.save_pretrained(out)
    back = type(ref).from_pretrained(out).eval()
    enc, dec = _ids(2, 5, seed=7), _ids(2, 4, seed=8)
    with torch.inference_mode():
        assert torch.equal(back(input_ids=enc, decoder_input_ids=dec).logits, ref(input_ids=enc, decoder_input_ids=dec).logits)
    again = build(out, fam.name)
    with torch.inference_mode():
        assert torch.equal(again([[enc], [dec]])[-1], ours([[enc], [dec]])[-1])


def test_t5_encoder_and_decoder_variants(tmp_path: Path) -> None:
    fam = FAMILIES[1]
    torch.manual_seed(0)
    ref = fam.make_reference().eval()
    ref.save_pretrained(tmp_path)
    encoder = build(tmp_path, "t5.1.1_encoder")
    decoder = build(tmp_path, "t5.1.1_decoder")
    enc, enc_mask = _encoder_batch(fam)
    dec = _ids(2, 4, seed=9)
    with torch.inference_mode():
        theirs = ref(input_ids=enc, attention_mask=enc_mask.long(), decoder_input_ids=dec)
        hidden = encoder([enc])
        _, logits = decoder([dec, hidden, enc_mask])
    assert (logits - theirs.logits).abs().max().item() <= ATOL


def test_t5_config_rejects_a_typed_unknown_key_and_names_a_misspelt_file_key() -> None:
    sizes = {"vocab_size": 9, "d_kv": 2, "d_ff": 4, "num_layers": 1, "num_heads": 2}
    with pytest.raises(ConfigError, match="did you mean 'd_model'"):
        t5_mod.T5Config.from_dict(sizes, overrides={"d_modle": 8})
    with pytest.raises(ConfigError, match="missing: d_model .*'d_modle' looks like 'd_model'"):
        t5_mod.T5Config.from_dict({**sizes, "d_modle": 8})


@pytest.mark.parametrize("model", ["transformer", "decoder"])
def test_generic_transformer_cache_and_own_weights(model: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    options = dict(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                   max_position=64)
    ours = build_transformer_model(model=model, **options).eval()
    enc = _ids(2, 6, seed=10) % 50
    enc[enc == 0] = 5
    dec = _ids(2, 7, seed=11) % 50
    with torch.inference_mode():
        if model == "transformer":
            full = ours([[enc], [dec]])[-1]
            outputs, cache = ours([[enc], [dec[:, :2]]], use_cache=True)
        else:
            memory = torch.randn(2, 6, 32)
            full = ours([dec, memory, None])[-1]
            outputs, cache = ours([dec[:, :2], memory, None], use_cache=True)
        steps = [outputs[-1]]
        for t in range(2, 7):
            step_in = [None, [dec[:, t : t + 1]]] if model == "transformer" else [dec[:, t : t + 1], None, None]
            outputs, cache = ours(step_in, past_key_values=cache, use_cache=True)
            steps.append(outputs[-1])
    assert (torch.cat(steps, dim=1) - full).abs().max().item() <= ATOL
    # our own parameter names load back strictly
    torch.save(ours.state_dict(), tmp_path / "ours.pt")
    again = build_transformer_model(model=model, checkpoint_path=tmp_path / "ours.pt", **options).eval()
    with torch.inference_mode():
        args = [[enc], [dec]] if model == "transformer" else [dec, torch.ones(2, 6, 32), None]
        assert torch.equal(again(args)[-1], ours(args)[-1])


def test_original_style_t5_pegasus_config_builds_mt5(tmp_path: Path) -> None:
    import json

    torch.manual_seed(0)
    ref = _mt5_ref().eval()
    ref.save_pretrained(tmp_path)
    # the hand-written config style of the original's t5_pegasus / mt5 (PLM_config.md), with model='mt5.1.1'
    original = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "attention_head_size": 8,
                "num_hidden_layers": 2, "num_decoder_layers": 3, "vocab_size": 99, "hidden_act": "gelu_new",
                "relative_attention_num_buckets": 8, "relative_attention_max_distance": 20, "attention_scale": False,
                "is_dropout": True, "segment_vocab_size": 0, "hidden_dropout_prob": 0.1, "max_position_embeddings": 512}
    (tmp_path / "bert4torch_config.json").write_text(json.dumps(original))
    # transformers v5 ties mT5's head to the embedding when saving; real mt5/t5_pegasus files carry lm_head.weight
    ours = build_transformer_model(config_path=tmp_path / "bert4torch_config.json", checkpoint_path=tmp_path,
                                   model="mt5.1.1", tie_word_embeddings=True).eval()
    assert ours.config.is_gated and not ours.config.scale_decoder_outputs
    enc, dec = _ids(2, 5, seed=12), _ids(2, 4, seed=13)
    with torch.inference_mode():
        theirs = ref(input_ids=enc, decoder_input_ids=dec).logits
        assert (ours([[enc], [dec]])[-1] - theirs).abs().max().item() <= ATOL


def test_t5_v11_untied_head_from_a_real_style_checkpoint(tmp_path: Path) -> None:
    import json

    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    ref = _t511_ref().eval()
    ref.save_pretrained(tmp_path)
    # real t5 v1.1 / mT5 checkpoints: tie_word_embeddings false and a separate lm_head.weight
    head = torch.randn(99, 32, generator=torch.Generator().manual_seed(3))
    state = load_file(tmp_path / "model.safetensors")
    save_file({**state, "lm_head.weight": head}, tmp_path / "model.safetensors")
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(tie_word_embeddings=False, scale_decoder_outputs=None)
    (tmp_path / "config.json").write_text(json.dumps(config))
    ours = build(tmp_path, "t5.1.1")
    assert not ours.config.tie_word_embeddings and not ours.config.scale_decoder_outputs
    enc, dec = _ids(2, 5, seed=14), _ids(2, 4, seed=15)
    with torch.inference_mode():
        hidden = ref(input_ids=enc, decoder_input_ids=dec, output_hidden_states=True).decoder_hidden_states[-1]
        assert (ours([[enc], [dec]])[-1] - hidden @ head.T).abs().max().item() <= ATOL


def test_list_and_unpacked_inputs_agree(pair) -> None:
    _, _, ours, _ = pair
    enc, dec = _ids(2, 5, seed=16), _ids(2, 3, seed=17)
    with torch.inference_mode():
        want = ours([[enc], [dec]])[-1]
        assert torch.equal(ours([enc], [dec])[-1], want)
        assert torch.equal(ours(enc, dec)[-1], want)


def test_t5_compile_and_fit_like_the_original_seq2seq_examples(tmp_path: Path) -> None:
    trainer = pytest.importorskip("bert4torch.trainer")
    from torch import nn, optim
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    _mt5_ref().save_pretrained(tmp_path)
    model = build(tmp_path, "mt5.1.1")
    assert isinstance(model, trainer.BaseModel)
    enc, dec = _ids(8, 6, seed=18), _ids(8, 5, seed=19)

    def collate_fn(batch):  # noqa: ANN001, ANN202
        e = torch.stack([b[0] for b in batch])
        d = torch.stack([b[1] for b in batch])
        return [[e], [d]], d

    def loss(outputs, target):  # noqa: ANN001, ANN202
        logits = outputs[-1]
        return nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1))

    model.compile(loss=loss, optimizer=optim.Adam(model.parameters(), lr=1e-2))
    before = model.predict([[enc], [dec]])[-1]
    model.fit(DataLoader(list(zip(enc, dec)), batch_size=4, collate_fn=collate_fn), epochs=2, verbose=0)
    after = model.predict([[enc], [dec]])[-1]
    assert not torch.equal(before, after)


def test_t5_encoder_round_trips_into_t5_encoder_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    _t511_ref().save_pretrained(tmp_path)
    encoder = build(tmp_path, "t5.1.1_encoder")
    encoder.save_pretrained(tmp_path / "enc")
    theirs = transformers.T5EncoderModel.from_pretrained(tmp_path / "enc").eval()
    enc = _ids(2, 6, seed=20)
    with torch.inference_mode():
        assert (theirs(input_ids=enc).last_hidden_state - encoder([enc])).abs().max().item() <= ATOL
    decoder = build(tmp_path, "t5.1.1_decoder")
    decoder.save_pretrained(tmp_path / "dec")  # our format: no transformers class for a lone T5 decoder
    again = build(tmp_path / "dec", "t5.1.1_decoder")
    hidden = torch.randn(2, 6, 32)
    with torch.inference_mode():
        assert torch.equal(again([enc[:, :3], hidden, None])[-1], decoder([enc[:, :3], hidden, None])[-1])
