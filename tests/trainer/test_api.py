"""The public surface: __all__ pinned, import cost, typo errors with suggestions, fix-it ImportErrors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

import bert4torch.trainer as trainer
from bert4torch.trainer import AdversarialTraining, BaseModel, Checkpoint, EarlyStopping, Logger, MetricNotFoundWarning

EXPECTED_ALL = [
    "AdversarialTraining",
    "BUILTIN_METRICS",
    "BaseModel",
    "BaseModelDDP",
    "BaseModelDP",
    "Callback",
    "CallbackList",
    "Checkpoint",
    "CheckpointWarning",
    "EarlyStopping",
    "Evaluator",
    "FGM",
    "History",
    "IterDataset",
    "LambdaCallback",
    "ListDataset",
    "Logger",
    "MetricNotFoundWarning",
    "NonFiniteGradientWarning",
    "PGD",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "SaveDirInUseError",
    "Tensorboard",
    "TerminateOnNaN",
    "TrainerState",
    "TrainingInterrupted",
    "VAT",
    "seed_everything",
    "trainable",
]


def test_all_is_pinned() -> None:
    assert sorted(trainer.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(trainer, name) is not None


def test_import_does_not_load_tensorboardx() -> None:
    code = "import sys, bert4torch.trainer; assert 'tensorboardX' not in sys.modules, 'tensorboardX imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tensorboard_without_tensorboardx_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['tensorboardX'] = None\n"
        "from bert4torch.trainer import Tensorboard\n"
        "try:\n    Tensorboard('x')\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install 'b4t-trainer[tensorboard]'" in out


def _model() -> BaseModel:
    return BaseModel(nn.Linear(4, 3))


def test_compile_typo_names_closest_option() -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="Did you mean 'clip_grad_norm'"):
        model.compile(nn.CrossEntropyLoss(), opt, clip_grad_nrom=1.0)
    with pytest.raises(ValueError, match="Did you mean 'bf16'"):
        model.compile(nn.CrossEntropyLoss(), opt, mixed_precision="bf61")
    model.compile(nn.CrossEntropyLoss(), opt, metrics=["acuracy"])  # could be a key of a loss's dict
    with pytest.warns(MetricNotFoundWarning, match="Did you mean 'accuracy'"):
        model.fit([(torch.randn(2, 4), torch.tensor([0, 1]))], verbose=0)  # checked at the first step
    with pytest.raises(ValueError, match="not both"):
        model.compile(nn.CrossEntropyLoss(), opt, clip_grad_norm=1.0, clip_gram_norm=2.0)
    with pytest.raises(ValueError, match="conflicts"):
        model.compile(nn.CrossEntropyLoss(), opt, use_amp=True, mixed_precision="bf16")
    with pytest.raises(TypeError, match="optimizer"):
        model.compile(nn.CrossEntropyLoss(), "adam")
    with pytest.raises(ValueError, match="grad_accumulation_steps"):
        model.compile(nn.CrossEntropyLoss(), opt, grad_accumulation_steps=0)
    with pytest.raises(ValueError, match="'skip'"):
        model.compile(nn.CrossEntropyLoss(), opt, nan_policy="skp")


def test_fit_typo_and_misuse() -> None:
    model = _model()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit([], epochs=1)
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="Did you mean 'epochs'"):
        model.fit([], epoch=1)
    with pytest.raises(TypeError, match="steps_per_epoch"):
        model.fit(iter([]), verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit([(torch.zeros(1, 4), torch.zeros(1, dtype=torch.long))], verbose=3)


def test_callback_option_typos() -> None:
    with pytest.raises(TypeError, match="Did you mean 'patience'"):
        EarlyStopping(patiense=3)
    with pytest.raises(ValueError, match="Did you mean 'step'"):
        Checkpoint(method="stpe")
    with pytest.raises(ValueError, match="Did you mean 'epsilon'"):
        AdversarialTraining("fgm", {"epsilom": 0.5})
    with pytest.raises(ValueError, match="Did you mean 'pgd'"):
        AdversarialTraining("pgb")
    with pytest.raises(TypeError, match="Did you mean 'interval'"):
        Logger("x.log", intervall=3)


def test_unsubclassed_forward_explains() -> None:
    with pytest.raises(NotImplementedError, match="subclass BaseModel"):
        BaseModel()(torch.zeros(1))


def test_models_baseModel_is_ours_when_reexported() -> None:
    models = pytest.importorskip("bert4torch.models")
    if not hasattr(models, "BaseModel"):
        pytest.skip("b4t-models does not re-export BaseModel yet")
    assert models.BaseModel is BaseModel
