"""Issue 10's trainer probes (no run lost, nothing silently wrong, clear errors) and issue 9's call shapes."""

from __future__ import annotations

import copy
import io
import os
import pickle
import stat
import subprocess
import sys
import warnings
from glob import glob
from pathlib import Path

import pytest
import torch
from torch import nn

from b4t_testing.trainer import checkpoint_names, mlp, state_equal
from bert4torch.trainer import (
    BaseModel,
    Callback,
    Checkpoint,
    ListDataset,
    MetricNotFoundWarning,
    NonFiniteGradientWarning,
    SaveDirInUseError,
    trainable,
)


def _compiled(seed: int = 0, **options: object) -> BaseModel:
    model = BaseModel(mlp(seed))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), **options)
    return model


def _data(n: int = 4) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 4, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(n)]


# ---------------------------------------------------------------- a save_dir holding another run


def test_new_run_refuses_a_save_dir_holding_another_runs_checkpoints(tmp_path: Path) -> None:
    old = _compiled(0)
    old.fit(_data(6), epochs=1, verbose=0, callbacks=[Checkpoint(save_dir=tmp_path, method="step", step_interval=1)])
    before = checkpoint_names(tmp_path)
    assert before == ["checkpoint-000000005.pt", "checkpoint-000000006.pt"]
    new = _compiled(1)
    with pytest.raises(SaveDirInUseError, match="another run.*resume_from_checkpoint"):
        new.fit(_data(2), epochs=1, verbose=0, callbacks=[Checkpoint(save_dir=tmp_path, method="step", step_interval=1)])
    with pytest.raises(SaveDirInUseError):
        new.save_to_checkpoint(tmp_path)
    assert checkpoint_names(tmp_path) == before  # nothing of the old run deleted, nothing of the new one written
    assert new.global_step == 0  # refused before training


def test_a_resumed_run_keeps_writing_its_own_save_dir_and_a_fresh_one_is_separate(tmp_path: Path) -> None:
    first = _compiled(0)
    first.fit(_data(3), epochs=1, verbose=0, callbacks=[Checkpoint(save_dir=tmp_path / "a", method="step",
                                                                   step_interval=1)])
    again = _compiled(0)
    again.resume_from_checkpoint(tmp_path / "a")
    again.fit(_data(3), epochs=2, verbose=0, callbacks=[Checkpoint(save_dir=tmp_path / "a", method="step",
                                                                   step_interval=1, keep_last=2)])
    assert checkpoint_names(tmp_path / "a") == ["checkpoint-000000005.pt", "checkpoint-000000006.pt"]
    other = _compiled(1)
    other.fit(_data(3), epochs=1, verbose=0, callbacks=[Checkpoint(save_dir=tmp_path / "b")])
    assert checkpoint_names(tmp_path / "b") == ["checkpoint-000000003.pt"]


# ---------------------------------------------------------------- non-finite gradients


class _InfGrad(torch.autograd.Function):
    """Identity forward, infinite backward: a finite loss whose gradient is not finite."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        return grad * float("inf")


class _Poisoned(nn.Module):
    def __init__(self, bad_batches: set[int]) -> None:
        super().__init__()
        self.net = mlp(0)
        self.bad, self.calls = bad_batches, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.net(x)
        return _InfGrad.apply(out) if self.calls in self.bad else out


@pytest.mark.parametrize("clip", [None, 1.0])
def test_non_finite_gradient_with_finite_loss_skips_the_step_leaving_weights_unchanged(clip: float | None) -> None:
    model = BaseModel(_Poisoned({2}))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), clip_grad_norm=clip)
    seen: list[dict[str, torch.Tensor]] = []

    class Snap(Callback):
        def on_batch_end(self, global_step, local_step, logs=None):  # type: ignore[no-untyped-def]
            seen.append({k: v.clone() for k, v in model.unwrap().state_dict().items()})

    with pytest.warns(NonFiniteGradientWarning, match=r"net\.\d\.(weight|bias).*step 1"):
        model.fit(_data(4), epochs=1, verbose=0, callbacks=[Snap()])
    assert state_equal(seen[1], seen[0])  # the poisoned step changed nothing
    assert not state_equal(seen[2], seen[1])  # later steps train again
    assert all(torch.isfinite(v).all() for v in seen[-1].values())
    assert model.state.skipped_updates == 1


def test_non_finite_gradient_raises_on_that_batch_naming_the_gradient() -> None:
    model = BaseModel(_Poisoned({2}))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), nan_policy="raise")
    before = copy.deepcopy(model.unwrap().state_dict())
    with pytest.raises(FloatingPointError, match=r"gradient of net\..* at step 1 \(the loss was finite\)"):
        model.fit(_data(4), epochs=1, verbose=0)
    assert model.global_step == 1  # raised on the second batch, not one later
    after_first = model.unwrap().state_dict()
    assert all(torch.isfinite(v).all() for v in after_first.values())
    assert not state_equal(after_first, before)


# ---------------------------------------------------------------- file modes


def test_checkpoint_and_save_weights_files_get_the_umask_mode(tmp_path: Path) -> None:
    model = _compiled()
    old = os.umask(0o027)
    try:
        model.save_weights(tmp_path / "w.pt")
        path = model.save_to_checkpoint(tmp_path / "ck")
    finally:
        os.umask(old)
    for f in (tmp_path / "w.pt", Path(path)):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o666 & ~0o027, f


# ---------------------------------------------------------------- bad batches


def test_a_dataloader_of_bare_tensors_is_an_error_naming_what_to_yield() -> None:
    model = _compiled()
    with pytest.raises(TypeError, match=r"bare tensor of shape \(2, 4\).*pair \(X, y\)"):
        model.fit([torch.randn(2, 4)] * 2, verbose=0)  # two rows: unpacking alone would have "worked"
    with pytest.raises(TypeError, match="tuple of 3 items.*pair"):
        model.fit([(torch.randn(2, 4), torch.tensor([0, 1]), 0)], verbose=0)


# ---------------------------------------------------------------- issue 9: the original's call shapes


class _OneInput(nn.Module):
    """The original's SimCSE/CasRel style: ``forward(self, inputs)`` gets the list whole."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 3)

    def forward(self, inputs):  # type: ignore[no-untyped-def]
        assert isinstance(inputs, list), type(inputs)
        return self.dense(inputs[0] + inputs[1])


class _TwoInputs(BaseModel):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 3)

    def forward(self, x, y):  # type: ignore[no-untyped-def]
        return self.dense(x + y)


def test_a_list_x_is_passed_whole_to_forward_of_one_input_and_unpacked_into_two() -> None:
    x = [torch.randn(2, 4), torch.randn(2, 4)]
    for model in (BaseModel(_OneInput()), _TwoInputs()):
        model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
        model.fit([(x, torch.tensor([0, 1]))] * 2, verbose=0)
        assert model.predict(x).shape == (2, 3)


def test_compile_metrics_accepts_keys_of_the_dict_the_loss_returns(capsys: pytest.CaptureFixture[str]) -> None:
    def loss(out, y):  # type: ignore[no-untyped-def]
        ce = nn.functional.cross_entropy(out, y)
        return {"loss": ce, "entity_loss": ce * 0.5}

    model = BaseModel(mlp(0))
    model.compile(loss, torch.optim.SGD(model.parameters(), lr=0.1), metrics=["entity_loss", "accuracy"])
    history = model.fit(_data(2), epochs=1, verbose=2)
    assert "entity_loss" in capsys.readouterr().out
    assert history.history["entity_loss"][0] == pytest.approx(history.history["loss"][0] * 0.5)
    model.compile(loss, torch.optim.SGD(model.parameters(), lr=0.1), metrics=["entty_loss"])
    with pytest.warns(MetricNotFoundWarning, match="Did you mean 'entity_loss'"):
        history = model.fit(_data(1), verbose=0)
    assert "entty_loss" not in history.history


def test_metric_names_the_loss_does_not_return_are_skipped_with_a_warning_as_the_original_ran_them() -> None:
    # simbert_v2_supervised.py: metrics=['seq2seq_loss', 'similarity_loss'] with a loss returning a bare tensor
    model = BaseModel(mlp(0))
    model.compile(loss=nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(model.parameters(), 1e-5),
                  metrics=["seq2seq_loss", "similarity_loss"])
    with pytest.warns(MetricNotFoundWarning, match=r"\['seq2seq_loss', 'similarity_loss'\].*not logged") as caught:
        history = model.fit(_data(3), epochs=2, verbose=0)
    assert len(caught) == 1  # once, at the first step
    assert set(history.history) == {"loss"}


def test_list_dataset_keeps_kwargs_and_its_default_load_data_returns_its_argument(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(str(i), encoding="utf-8")

    class Lines(ListDataset):
        def load_data(self, filename):  # type: ignore[no-untyped-def]
            return [Path(filename).read_text(encoding="utf-8")[: self.kwargs["maxlen"]]]

    assert Lines(str(tmp_path / "0.txt"), maxlen=1).kwargs == {"maxlen": 1}
    files = sorted(glob(str(tmp_path / "*.txt")))
    assert list(ListDataset(files)) == files  # the original's ListDataset(glob(...))


def test_bti_is_the_batch_index_within_the_epoch_during_the_loss() -> None:
    seen = []
    model = BaseModel(mlp(0))

    def loss(out, y):  # type: ignore[no-untyped-def]
        seen.append((model.epoch, model.bti))
        return nn.functional.cross_entropy(out, y)

    model.compile(loss, torch.optim.SGD(model.parameters(), lr=0.1))
    model.fit(_data(3), epochs=2, verbose=0)
    assert seen == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    # an epoch shorter than the dataloader: bti follows the dataloader (TemporalEnsembling indexes its history
    # of predictions with it), not the epoch; it is 0 again when the dataloader restarts
    seen.clear()
    model.compile(loss, torch.optim.SGD(model.parameters(), lr=0.1))
    model.fit(_data(3), steps_per_epoch=2, epochs=3, verbose=0)
    assert seen == [(0, 0), (0, 1), (1, 2), (1, 0), (2, 1), (2, 2)]


def test_stateful_metrics_warns_once_that_it_is_ignored() -> None:
    model = BaseModel(mlp(0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(UserWarning, match="stateful_metrics is accepted and ignored"):
        model.compile(nn.CrossEntropyLoss(), opt, stateful_metrics=["loss"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.compile(nn.CrossEntropyLoss(), opt, stateful_metrics=["loss"])  # once only


def test_save_and_load_weights_share_the_models_signature(tmp_path: Path) -> None:
    model = _compiled()
    model.save_weights(tmp_path / "w.pt", None, mapping={"0.weight": "first.weight"})
    assert "first.weight" in torch.load(tmp_path / "w.pt", weights_only=True)
    with pytest.raises(TypeError):
        model.save_weights(tmp_path / "w.pt", None, {"0.weight": "x"})  # mapping is keyword-only
    other = _compiled(1)
    other.load_weights(tmp_path / "w.pt", True, None, mapping={"0.weight": "first.weight"})
    assert state_equal(other.unwrap().state_dict(), model.unwrap().state_dict())


# ---------------------------------------------------------------- trainable(model_class)


class PlainNet(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.a = nn.Linear(4, width)
        self.b = nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


def test_trainable_subclass_of_a_plain_module_pickles_deep_copies_saves_and_trains(tmp_path: Path) -> None:
    cls = trainable(PlainNet)
    assert cls is trainable(PlainNet) and issubclass(cls, (PlainNet, BaseModel))
    assert (cls.__name__, cls.__qualname__, cls.__module__) == (
        "PlainNetTrainable", "PlainNetTrainable", "bert4torch.trainer._trainable"
    )
    assert trainable(cls) is cls
    torch.manual_seed(0)
    model = cls(width=6)
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    model.fit(_data(2), epochs=1, verbose=0)
    assert model.global_step == 2
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert type(clone) is cls and state_equal(clone.state_dict(), model.state_dict())
        assert clone.global_step == 2
        clone.fit(_data(1), epochs=1, verbose=0)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)  # our own object, just written
    assert state_equal(loaded.state_dict(), model.state_dict())


def test_trainable_class_of_bert4torch_models_unpickles_in_a_fresh_process(tmp_path: Path) -> None:
    models = pytest.importorskip("bert4torch.models")
    name = next((n for n in ("BERT", "Bert") if isinstance(getattr(models, n, None), type)), None)
    if name is None:
        pytest.skip("bert4torch.models exports no BERT class")
    cls = trainable(getattr(models, name))
    payload = pickle.dumps(cls)
    code = "import pickle, sys; cls = pickle.loads(sys.stdin.buffer.read()); print(cls.__name__, cls.__mro__[1].__name__)"
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, check=True).stdout
    assert out.decode().split() == [f"{name}Trainable", name]
