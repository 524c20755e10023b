"""Issue 8's trainer items: its state in one typed object, fit in named steps, callbacks in files of one subject."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import torch
from torch import nn

import bert4torch.trainer as trainer
from b4t_testing.trainer import mlp
from bert4torch.trainer import BaseModel, Callback, TrainerState

PACKAGES = Path(__file__).resolve().parents[2] / "packages"


def test_the_trainers_state_is_one_typed_object_and_nothing_else_lands_on_the_model() -> None:
    model = BaseModel(mlp(0))
    before = set(vars(model))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), metrics=["accuracy"])
    model.fit([(torch.randn(4, 4), torch.randint(0, 3, (4,)))] * 3, epochs=2, verbose=0)
    assert set(vars(model)) == before  # compile and fit add no attribute to the module
    assert dataclasses.is_dataclass(model.state) and isinstance(model.state, TrainerState)
    assert all(f.type for f in dataclasses.fields(TrainerState))  # every field typed
    # the original's names are properties over that object, read and written through it
    assert model.global_step == model.state.global_step == 6
    model.stop_training = True
    assert model.state.stop_training is True
    assert "state" not in dict(model.named_buffers()) and not any("state" in k for k in model.state_dict())


def test_fit_is_a_sequence_of_named_steps() -> None:
    steps = ("_prepare_fit", "_begin_fit", "_run_epoch", "_train_batches", "_next_batch", "train_step",
             "_optimizer_step", "compute_loss", "backward")
    for name in steps:
        assert callable(getattr(BaseModel, name)), name
    source = inspect.getsource(BaseModel.fit)
    for name in ("_prepare_fit", "_begin_fit", "_run_epoch"):
        assert f"self.{name}(" in source


def _long_functions(root: Path, limit: int = 60) -> list[str]:
    found = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(PACKAGES)}::{node.name} ({length} lines)")
    return found


def test_no_function_over_60_lines_in_the_trainer_losses_and_snippets() -> None:
    for dist in ("b4t-trainer", "b4t-losses", "b4t"):
        assert _long_functions(PACKAGES / dist / "src") == []


def test_each_callback_and_adversarial_strategy_lives_in_a_file_of_its_own() -> None:
    shared = {"Callback", "CallbackList", "LambdaCallback"}  # the base, its dispatcher and its function adapter
    homes: dict[str, list[str]] = {}
    for name in trainer.__all__:
        obj = getattr(trainer, name)
        if inspect.isclass(obj) and issubclass(obj, Callback) and name not in shared:
            homes.setdefault(obj.__module__, []).append(name)
    assert len(homes) >= 10
    assert {m: names for m, names in homes.items() if len(names) > 1} == {}
    for strategy in ("FGM", "PGD", "VAT"):
        assert getattr(trainer, strategy).__module__.endswith(f"_adversarial._{strategy.lower()}")
