"""A built model is an instance of a named, importable class: it pickles, deep-copies, torch.saves and crosses a
spawn process boundary, with b4t-trainer installed (the trainer subclass) and without it (the plain family class)."""

from __future__ import annotations

import copy
import functools
import io
import multiprocessing
import pickle
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import torch

from b4t_testing.models import TINY, first_output
from bert4torch.models import build_transformer_model

LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2)
IDS = torch.tensor([[5, 7, 9, 11, 3], [4, 8, 15, 16, 23]])


def _models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "bert": build_transformer_model(model="bert", with_mlm=True, **TINY).eval(),
        "llama": build_transformer_model(model="llama", **LLAMA).eval(),
        "bert_lm": build_transformer_model(model="bert", application="lm", **TINY).eval(),
    }


def _output(model: torch.nn.Module) -> torch.Tensor:
    return first_output(model, IDS)


def _round_trips(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return {
        "pickle": pickle.loads(pickle.dumps(model)),
        "deepcopy": copy.deepcopy(model),
        # a whole module needs weights_only=False; this test loads only what it just saved
        "torch.save": torch.load(buffer, weights_only=False),
    }


@pytest.mark.parametrize("name", ["bert", "llama", "bert_lm"])
def test_built_model_round_trips_keep_class_and_outputs(name: str) -> None:
    model = _models()[name]
    expected = _output(model)
    for how, again in _round_trips(model).items():
        assert type(again) is type(model), how
        torch.testing.assert_close(_output(again), expected, rtol=0, atol=0, msg=how)


def test_built_model_is_trainer_model_when_trainer_imports() -> None:
    trainer = pytest.importorskip("bert4torch.trainer")
    model = build_transformer_model(model="llama", **LLAMA)
    assert isinstance(model, trainer.BaseModel)
    assert type(model).__name__ == "LlamaTrainable"
    plain = build_transformer_model(model="llama", add_trainer=False, **LLAMA)
    assert not isinstance(plain, trainer.BaseModel)
    assert type(plain).__name__ == "Llama"


_BLOCKED = textwrap.dedent("""
    import copy, io, pickle, sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "bert4torch.trainer" or name.startswith("bert4torch.trainer."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Block())
    import pytest, torch
    from bert4torch.models import build_transformer_model
    with pytest.raises(ImportError, match="b4t-models\\\\[trainer\\\\]"):
        build_transformer_model(model="bert", add_trainer=True, vocab_size=9, hidden_size=8, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=8)
    ids = torch.tensor([[5, 7, 9, 3]])
    for model in (build_transformer_model(model="bert", vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=4, intermediate_size=37).eval(),
                  build_transformer_model(model="llama", vocab_size=99, hidden_size=32, intermediate_size=37,
                                          num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2).eval()):
        assert type(model).__module__.startswith("bert4torch.models."), type(model)
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        with torch.no_grad():
            expected = model([ids])[0]
            for again in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model),
                          torch.load(buffer, weights_only=False)):
                assert type(again) is type(model)
                torch.testing.assert_close(again([ids])[0], expected, rtol=0, atol=0)
    assert "bert4torch.trainer" not in sys.modules
    print("ok")
""")


def test_round_trips_without_trainer_installed() -> None:
    result = subprocess.run([sys.executable, "-c", _BLOCKED], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_spawn_process_runs_a_built_model() -> None:
    from concurrent.futures import ProcessPoolExecutor

    models = _models()
    # an executor, not a Pool: a task the child cannot unpickle fails the future instead of hanging the pool
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(functools.partial(first_output, ids=IDS), models[name]) for name in ("bert", "llama")]
        results: list[Any] = [f.result(timeout=240) for f in futures]
    for name, got in zip(("bert", "llama"), results):
        torch.testing.assert_close(got, _output(models[name]), rtol=0, atol=0)
