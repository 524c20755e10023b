"""Bad inputs to the models: each gets a clear error naming the input (or the config key, or the checkpoint's own
tensor name), never an obscure crash from inside a layer or a silently wrong result.

One test per behaviour, named after it; then a probe that runs every family's forward on adversarial id tensors
(hypothesis) and classifies every outcome with the shared probe: ok (logits/hidden states of the right shape, all
finite), clear error (a TypeError or ValueError naming the input), obscure crash, silent wrong result, hang.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from b4t_testing.probe import CLEAR, OK, PASSING, classify
from bert4torch.models import CheckpointError, ConfigError, WeightLoadingError, build_transformer_model

VOCAB = 99
ENC = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
           max_position=16)
T5 = dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4)
NO_TABLE = {k: v for k, v in ENC.items() if k != "max_position"}
# every family's forward, with the call that feeds it one [batch, len] id tensor
FAMILIES: dict[str, tuple[dict[str, Any], str]] = {
    "bert": (ENC, "list"), "albert": (ENC, "list"), "electra": (ENC, "list"), "nezha": (ENC, "list"),
    "roformer": (ENC, "list"), "deberta_v2": (ENC, "list"), "gau_alpha": ({**ENC, "attention_key_size": 8}, "list"),
    "gpt2": (ENC, "list"), "llama": (ENC, "list"), "transformer_xl": (ENC, "list"), "xlnet": (NO_TABLE, "list"),
    "t5.1.1": (T5, "seq2seq"), "bart": (ENC, "seq2seq"),
}


def build(family: str, **options: Any) -> torch.nn.Module:
    config, _ = FAMILIES[family]
    torch.manual_seed(0)
    return build_transformer_model(model=family, add_trainer=False, **{**config, **options}).eval()


def run(model: torch.nn.Module, family: str, ids: Any, segment_ids: Any = None) -> torch.Tensor:
    """The last tensor of the family's forward on ``ids`` (a seq2seq model gets them on both sides)."""
    inputs = [ids] if segment_ids is None else [ids, segment_ids]
    with torch.no_grad():
        out = model([inputs, [ids]]) if FAMILIES[family][1] == "seq2seq" else model(inputs)
    while isinstance(out, (list, tuple)):
        out = out[-1]
    return out


GOOD = torch.tensor([[5, 7, 9, 3], [4, 8, 15, 16]])


# ---------------------------------------------------------------------------------------------- forward ids
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_float_ids_are_a_type_error_naming_token_ids(family: str) -> None:
    with pytest.raises(TypeError, match=r"token_ids must hold integer ids.*\.long\(\)"):
        run(build(family), family, GOOD.float())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_one_dimensional_ids_name_the_missing_batch_axis(family: str) -> None:
    with pytest.raises(ValueError, match=r"token_ids must be \[batch, len\], got shape \(4,\); add the batch axis"):
        run(build(family), family, GOOD[0])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_ids_outside_the_vocabulary_name_the_id_and_the_table(family: str) -> None:
    model = build(family)
    with pytest.raises(ValueError, match=rf"token_ids holds {VOCAB}, outside the {VOCAB} rows.*vocab"):
        run(model, family, torch.tensor([[5, VOCAB, 9, 3]]))
    with pytest.raises(ValueError, match=rf"token_ids holds -3, outside the {VOCAB} rows.*never negative"):
        run(model, family, torch.tensor([[5, -3, 9, 3]]))


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("shape", [(0, 4), (2, 0)])
def test_an_empty_batch_or_sequence_is_named(family: str, shape: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=rf"token_ids is empty \(shape \({shape[0]}, {shape[1]}\)\)"):
        run(build(family), family, torch.zeros(shape, dtype=torch.long))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_list_instead_of_a_tensor_is_named(family: str) -> None:
    with pytest.raises(TypeError, match=r"token_ids must be a torch.Tensor.*got list"):
        run(build(family), family, [[5, 7, 9]])


def test_segment_ids_past_type_vocab_size_are_named() -> None:
    model = build("bert")  # type_vocab_size 2
    with pytest.raises(ValueError, match=r"segment_ids holds 2, outside the 2 rows.*type_vocab_size"):
        run(model, "bert", GOOD, torch.tensor([[0, 0, 1, 2], [0, 1, 1, 1]]))


def test_segment_ids_of_another_shape_than_the_ids_are_named() -> None:
    with pytest.raises(ValueError, match=r"segment_ids has shape \(2, 3\), token_ids \(2, 4\)"):
        run(build("bert"), "bert", GOOD, torch.zeros(2, 3, dtype=torch.long))


def test_float_segment_ids_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="segment_ids must hold integer ids"):
        run(build("bert"), "bert", GOOD, torch.zeros(2, 4))


def test_custom_position_ids_past_max_position_are_named() -> None:
    model = build("bert", custom_position_ids=True, segment_vocab_size=0)
    with pytest.raises(ValueError, match=r"position_ids holds 16, outside the 16 rows"):
        run(model, "bert", GOOD, torch.tensor([[0, 1, 2, 16]]))
    assert run(model, "bert", GOOD, torch.tensor([[12, 13, 14, 15]])).isfinite().all()


@pytest.mark.parametrize("family", ["bert", "gpt2", "bart"])
def test_a_sequence_longer_than_the_position_table_is_named(family: str) -> None:
    with pytest.raises(ValueError, match="max_position"):
        run(build(family), family, torch.randint(1, VOCAB, (1, 17)))


def test_a_cached_decoder_running_past_max_position_is_named() -> None:
    model = build("gpt2")
    with torch.no_grad():
        _, cache = model([torch.randint(1, VOCAB, (1, 14))], use_cache=True)
        _, cache = model([torch.tensor([[3]])], past_key_values=cache, use_cache=True)  # position 14
        _, cache = model([torch.tensor([[3]])], past_key_values=cache, use_cache=True)  # position 15: the last row
        with pytest.raises(ValueError, match=r"position 16 is past the model's 16 positions \(max_position\)"):
            model([torch.tensor([[3]])], past_key_values=cache, use_cache=True)


def test_the_original_decoding_api_running_past_max_position_is_named() -> None:
    AutoRegressiveDecoder = pytest.importorskip("bert4torch.generation").AutoRegressiveDecoder  # noqa: N806

    model = build("gpt2")

    class Decoder(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype="logits")
        def predict(self, inputs, output_ids, states):
            return model([torch.cat([inputs[0], output_ids], 1)])[:, -1]

    decoder = Decoder(start_id=None, end_id=VOCAB + 5, maxlen=40, device="cpu")  # no end id: runs to maxlen
    with pytest.raises(ValueError, match="max_position"):
        decoder.random_sample([torch.randint(1, VOCAB, (12,))], n=1, topk=5)


def test_a_negative_padding_id_reads_row_zero_and_other_negatives_are_named() -> None:
    # T5/BART keep the original's -100 padding (its mT5 example); only that negative id is allowed
    model = build("t5.1.1", token_pad_ids=-100)
    assert run(model, "t5.1.1", torch.tensor([[5, 7, -100, -100]])).isfinite().all()
    with pytest.raises(ValueError, match="token_ids holds -3"):
        run(model, "t5.1.1", torch.tensor([[5, -3, -100, -100]]))


def test_embeddings_given_directly_are_not_taken_for_ids() -> None:
    # a float [batch, len, embedding_size] input is the embedding output (the adversarial-training examples)
    model = build("bert", segment_vocab_size=0)
    embedded = model.embeddings.word_embeddings(GOOD)
    with torch.no_grad():
        assert model([embedded]).shape == (2, 4, 32)


def test_checks_stay_out_of_a_traced_graph() -> None:
    model = build("bert", segment_vocab_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's own notes on Python values
        traced = torch.jit.trace(model, (GOOD,), check_trace=False)
    torch.testing.assert_close(traced(GOOD), run(model, "bert", GOOD))


# ---------------------------------------------------------------------------------------------- config values
@pytest.mark.parametrize("change,message", [
    ({"hidden_size": "384"}, r"hidden_size='384' must be int \(got str\)"),
    ({"num_attention_heads": 0}, "num_attention_heads=0 must be at least 1"),
    ({"vocab_size": -5}, "vocab_size=-5 must be at least 1"),
    ({"num_hidden_layers": None}, "num_hidden_layers=None must be int"),
    ({"num_attention_heads": 5}, "hidden_size=32 is not a multiple of num_attention_heads=5"),
    ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
])
@pytest.mark.parametrize("source", ["keyword", "config file"])
def test_config_values_of_the_wrong_type_or_range_name_the_key(change: dict, message: str, source: str,
                                                               tmp_path: Path) -> None:
    config = {**ENC, **change}
    with pytest.raises(ConfigError, match=message):
        if source == "keyword":
            build_transformer_model(model="bert", add_trainer=False, **config)
        else:
            (tmp_path / "config.json").write_text(json.dumps(config))
            build_transformer_model(tmp_path / "config.json", model="bert", add_trainer=False)


# ---------------------------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def saved() -> dict[str, torch.Tensor]:
    """A BERT's weights under the checkpoint's own (transformers') keys."""
    return build("bert").checkpoint_state()


KEY = "bert.encoder.layer.1.attention.self.query.weight"
OURS = "encoderLayer.1.multiHeadAttention.q.weight"


def load(state: dict[str, torch.Tensor], tmp_path: Path) -> torch.nn.Module:
    save_file(state, tmp_path / "model.safetensors")
    return build_transformer_model(checkpoint_path=tmp_path / "model.safetensors", model="bert", add_trainer=False,
                                   **ENC)


def test_strict_loading_names_the_checkpoint_key_the_file_lacks(saved: dict, tmp_path: Path) -> None:
    state = {k: v for k, v in saved.items() if k != KEY}
    with pytest.raises(WeightLoadingError, match=rf"missing.*{OURS} \(checkpoint key {KEY}\)"):
        load(state, tmp_path)


def test_an_integer_weight_is_refused_as_integer_not_as_missing(saved: dict, tmp_path: Path) -> None:
    state = {**saved, KEY: saved[KEY].long()}
    with pytest.raises(WeightLoadingError, match=rf"integer tensor.*{OURS} \(checkpoint key {KEY}\): int64") as info:
        load(state, tmp_path)
    assert "missing" not in str(info.value)


def test_one_tensor_stored_twice_with_different_values_is_refused(saved: dict, tmp_path: Path) -> None:
    state = {**saved, KEY.removeprefix("bert."): saved[KEY] + 1}
    with pytest.raises(WeightLoadingError, match=rf"stored twice with different values: {OURS}"):
        load(state, tmp_path)
    state = {**saved, KEY.removeprefix("bert."): saved[KEY].clone()}  # the same values twice are fine
    assert load(state, tmp_path).load_report.ok


def test_a_nan_weight_loads_with_a_warning_naming_the_tensor(saved: dict, tmp_path: Path) -> None:
    broken = saved[KEY].clone()
    broken[0, 0] = float("nan")
    with pytest.warns(UserWarning, match=rf"NaN or inf were loaded as they are: {KEY}"):
        model = load({**saved, KEY: broken}, tmp_path)
    assert model.load_report.nonfinite == [KEY]


@pytest.mark.parametrize("bad", [42, None, 3.5, []])
def test_load_weights_of_something_that_is_not_a_checkpoint_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match="must be a path to a file or folder, a list of shard paths or a state dict"):
        build("bert").load_weights(bad)


def test_a_checkpoint_that_cannot_be_read_leaves_the_model_as_it_was(tmp_path: Path) -> None:
    model = build("gpt2")  # its head is tied to the token embedding
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for bad, error in ((tmp_path / "missing.safetensors", CheckpointError), (42, TypeError)):
        with pytest.raises(error):
            model.load_weights(bad)
        assert model.dense.weight is model.embeddings.word_embeddings.weight, bad
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items()), bad


# ---------------------------------------------------------------------------------------------- the probe
IDS = st.one_of(
    st.lists(st.lists(st.integers(-5, VOCAB + 5), min_size=0, max_size=6), min_size=0, max_size=3).map(
        lambda rows: [r + [1] * (max(map(len, rows), default=0) - len(r)) for r in rows]),  # rectangular
    st.integers(-2, VOCAB), st.none(), st.text(max_size=3),
)
AS = st.sampled_from(["long", "int32", "float", "bool", "list", "1d", "3d"])


def _tensor(rows: Any, kind: str) -> Any:
    if not isinstance(rows, list) or kind == "list":
        return rows
    t = torch.tensor(rows, dtype=torch.long) if rows else torch.zeros(0, 0, dtype=torch.long)
    return {"long": t, "int32": t.int(), "float": t.float(), "bool": t.bool(), "1d": t.flatten(),
            "3d": t[..., None]}[kind]


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    return {family: build(family) for family in FAMILIES}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(family=st.sampled_from(sorted(FAMILIES)), rows=IDS, kind=AS)
def test_probe_every_family_on_adversarial_ids(models: dict, family: str, rows: Any, kind: str) -> None:
    model, ids = models[family], _tensor(rows, kind)

    def check(out: torch.Tensor) -> bool:  # valid ids: one finite output row per token
        return isinstance(ids, torch.Tensor) and tuple(out.shape[:2]) == tuple(ids.shape) and bool(
            out.isfinite().all())

    outcome, detail = classify(lambda: run(model, family, ids), check, ("token_ids",))
    assert outcome in PASSING, (outcome, detail, family, kind, rows)
    valid = (isinstance(ids, torch.Tensor) and ids.dim() == 2 and ids.numel() and not ids.is_floating_point()
             and ids.dtype != torch.bool and 0 <= int(ids.min()) and int(ids.max()) < VOCAB)
    assert outcome == (OK if valid else CLEAR), (outcome, detail, family, kind, rows)
