"""What every family shares since the stacks were unified: one config policy, init honouring ``initializer_range``,
validation in the config, options accepted for compatibility that warn once, forwards that store nothing, models
built from the public ``bert4torch.layers`` only."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest
import torch

import bert4torch.models
from bert4torch.models import ConfigError, GPT2Config, build_transformer_model

ENC = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
T5 = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4)
FAMILIES = {"bert": ENC, "gpt2": ENC, "llama": ENC, "t5.1.1": T5, "bart": ENC, "xlnet": ENC, "transformer_xl": ENC}


@pytest.mark.parametrize("model", sorted(FAMILIES))
def test_initializer_range_sets_the_std_of_every_family(model: str) -> None:
    torch.manual_seed(0)
    for std in (0.02, 0.3):
        built = build_transformer_model(model=model, initializer_range=std, add_trainer=False, **FAMILIES[model])
        weights = torch.cat([m.weight.detach().flatten() for m in built.modules() if isinstance(m, torch.nn.Linear)])
        assert weights.std().item() == pytest.approx(std, rel=0.1), (model, std)


def test_one_alias_policy_for_encoders_and_decoders() -> None:
    # within one source the field's own name beats its alias; keyword options beat the file
    for config_class, alias, field in ((bert4torch.models.BertConfig, "max_position_embeddings", "max_position"),
                                       (GPT2Config, "n_positions", "max_position")):
        config = config_class.from_dict({**ENC, alias: 64, field: 128})
        assert config.max_position == 128, config_class
        config = config_class.from_dict({**ENC, field: 128}, overrides={alias: 256})
        assert config.max_position == 256, config_class


def test_validation_lives_in_the_config() -> None:
    with pytest.raises(ConfigError, match="gelu_new"):
        GPT2Config.from_dict({**ENC, "hidden_act": "gelu_nwe"})
    with pytest.raises(ConfigError, match="final_activation"):
        GPT2Config.from_dict({**ENC, "final_activation": "softmx"})
    with pytest.raises(ConfigError, match="use with_discriminator"):
        bert4torch.models.ElectraConfig.from_dict({**ENC, "with_pool": True})
    assert bert4torch.models.BertConfig.from_dict({**ENC, "with_nsp": True}).with_pool is True  # the NSP head reads it


def test_options_accepted_for_compatibility_warn_once() -> None:
    for model, option in (("bert", {"sequence_length": 128}), ("bert", {"residual_attention_scores": True}),
                          ("transformer_xl", {"mem_len": 16})):
        with pytest.warns(UserWarning, match=f"{next(iter(option))}=.* changes nothing"):
            build_transformer_model(model=model, add_trainer=False, **ENC, **option)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            build_transformer_model(model=model, add_trainer=False, **ENC, **option)


def _state(model: torch.nn.Module) -> dict[str, set[str]]:
    return {name: set(vars(module)) for name, module in model.named_modules()}


@pytest.mark.parametrize("model,options", [
    ("bert", dict(with_mlm=True)), ("roformer", {}), ("nezha", {}), ("gau_alpha", dict(attention_key_size=8)),
    ("deberta_v2", dict(relative_attention=True, pos_att_type="c2p|p2c", conv_kernel_size=3)),
    ("gpt2", {}), ("llama", {}), ("transformer_xl", {}),
])
def test_forward_stores_nothing_on_the_model(model: str, options: dict) -> None:
    built = build_transformer_model(model=model, add_trainer=False, **ENC, **options).eval()
    ids = torch.tensor([[5, 7, 9, 0], [4, 8, 15, 16]])
    before = _state(built)
    with torch.no_grad():
        built([ids])
    assert _state(built) == before


def test_models_use_only_the_public_layers() -> None:
    root = Path(bert4torch.models.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bert4torch.layers."):
                pytest.fail(f"{path.name} imports the private {node.module}")
