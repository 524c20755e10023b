"""Callbacks end to end through fit: override detection, monitors, checkpoints, Evaluator, Logger, Tensorboard,
LambdaCallback, and adversarial training (FGM checked against a hand-written step)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from b4t_testing.trainer import TinyClassifier, checkpoint_names, mlp, state_equal, token_loader
from bert4torch.trainer import (
    FGM,
    PGD,
    AdversarialTraining,
    BaseModel,
    Callback,
    CallbackList,
    Checkpoint,
    EarlyStopping,
    Evaluator,
    LambdaCallback,
    Logger,
    ReduceLROnPlateau,
    Tensorboard,
    TerminateOnNaN,
)


def loader(n: int = 32, batch_size: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return DataLoader(TensorDataset(x, (x[:, 0] > 0).long()), batch_size=batch_size)


def compiled(lr: float = 0.1) -> BaseModel:
    model = BaseModel(mlp(0))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=lr))
    return model


def test_only_overridden_hooks_are_dispatched() -> None:
    class OnlyEpochEnd(Callback):
        def on_epoch_end(self, global_step, epoch, logs=None):  # type: ignore[no-untyped-def]
            pass

    cl = CallbackList([OnlyEpochEnd(), Callback(), LambdaCallback(on_batch_end=lambda g, l, logs: None)])
    assert len(cl.hooks["on_epoch_end"]) == 1
    assert len(cl.hooks["on_batch_end"]) == 1
    assert cl.hooks["on_batch_begin"] == [] and cl.hooks["on_train_step_end"] == []


def test_callback_without_super_init_works() -> None:
    seen = []

    class Evaluator(Callback):  # the spec's example: no super().__init__()
        def __init__(self) -> None:
            self.best_val_acc = 0.0

        def on_epoch_end(self, global_step, epoch, logs=None):  # type: ignore[no-untyped-def]
            seen.append((self.trainer is not None, self.params["epochs"]))

    compiled().fit(loader(), epochs=2, callbacks=[Evaluator()], verbose=0)
    assert seen == [(True, 2), (True, 2)]


def test_lambda_callback_wires_each_hook_to_itself() -> None:
    events: list[str] = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: events.append("tb"),
        on_dataloader_end=lambda logs: events.append("de"),
        on_train_end=lambda logs: events.append("te"),
    )
    compiled().fit(loader(n=16), steps_per_epoch=3, epochs=1, callbacks=[cb], verbose=0)
    assert events == ["tb", "de", "te"]


def test_early_stopping_patience_and_restore_best() -> None:
    values = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9])

    class FakeMetric(Callback):
        def on_epoch_end(self, global_step, epoch, logs=None):  # type: ignore[no-untyped-def]
            logs["val_loss"] = next(values)

    es = EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    model = compiled()
    snapshots = []
    snap = LambdaCallback(
        on_epoch_end=lambda g, e, logs: snapshots.append({k: v.clone() for k, v in model.unwrap().state_dict().items()})
    )
    h = model.fit(loader(), epochs=6, callbacks=[FakeMetric(), snap, es], verbose=0)
    assert h.history["val_loss"] == [1.0, 0.5, 0.6, 0.7] and es.stopped_at == 3
    assert state_equal(model.unwrap().state_dict(), snapshots[1])
    stepwise = EarlyStopping(monitor="loss", method="step", patience=0, mode="max")
    m2 = compiled()
    m2.fit(loader(), epochs=3, callbacks=[stepwise], verbose=0)
    assert m2.global_step < 12


def test_reduce_lr_on_plateau() -> None:
    class Flat(Callback):
        def on_epoch_end(self, global_step, epoch, logs=None):  # type: ignore[no-untyped-def]
            logs["val"] = 1.0

    model = compiled(lr=0.1)
    reduce = ReduceLROnPlateau(monitor="val", factor=0.5, patience=2, min_lr=0.03)
    model.fit(loader(), epochs=5, callbacks=[Flat(), reduce], verbose=0)
    # epoch 1 sets best; epochs 2-3 stall -> 0.05; epochs 4-5 stall -> max(0.025, 0.03)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.03)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.5)


def test_terminate_on_nan(capsys: pytest.CaptureFixture[str]) -> None:
    x = torch.randn(16, 4)
    x[4:8] = float("nan")
    model = compiled()
    model.fit(DataLoader(TensorDataset(x, torch.zeros(16, dtype=torch.long)), batch_size=4), epochs=3,
              callbacks=[TerminateOnNaN()], verbose=0)
    assert model.global_step == 2 and "TerminateOnNaN" in capsys.readouterr().out


def test_checkpoint_callback_original_paths_and_resumable_dir(tmp_path: Path) -> None:
    model = compiled()
    ck = Checkpoint(
        checkpoint_path=str(tmp_path / "model_{epoch}.pt"),
        optimizer_path=str(tmp_path / "opt_{epoch}.pt"),
        steps_params_path=str(tmp_path / "steps_{step}.pt"),
    )
    every3 = Checkpoint(save_dir=tmp_path / "resumable", method="step", step_interval=3, keep_last=2)
    model.fit(loader(), epochs=2, callbacks=[ck, every3], verbose=0)
    names = sorted(os.listdir(tmp_path))
    assert {"model_1.pt", "model_2.pt", "opt_1.pt", "opt_2.pt", "steps_4.pt", "steps_8.pt"} <= set(names)
    assert checkpoint_names(tmp_path / "resumable") == ["checkpoint-000000003.pt", "checkpoint-000000006.pt"]
    reloaded = compiled()
    reloaded.load_weights(tmp_path / "model_2.pt")
    assert state_equal(reloaded.unwrap().state_dict(), model.unwrap().state_dict())


def test_evaluator_adds_logs_and_saves_on_improvement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = iter([0.5, 0.4, 0.7])

    class MyEvaluator(Evaluator):
        def evaluate(self) -> dict[str, float]:
            return {"perf": next(scores), "other": 1.0}

    ev = MyEvaluator(checkpoint_path=str(tmp_path / "best_{epoch}.pt"))
    h = compiled().fit(loader(), epochs=3, callbacks=[ev], verbose=0)
    assert h.history["perf"] == [0.5, 0.4, 0.7] and h.history["other"] == [1.0] * 3
    assert sorted(os.listdir(tmp_path)) == ["best_1.pt", "best_3.pt"]
    assert ev.best_perf == 0.7 and "best_perf: 0.70000" in capsys.readouterr().out

    class Bad(Evaluator):
        def evaluate(self) -> dict[str, float]:
            return {"acc": 1.0}

    with pytest.raises(KeyError, match="'perf'"):
        compiled().fit(loader(), callbacks=[Bad()], verbose=0)


def test_logger_writes_file(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "train.log"
    compiled().fit(loader(), epochs=2, callbacks=[Logger(path, interval=2, verbosity=2, name="run")], verbose=0)
    text = path.read_text(encoding="utf-8")
    assert "Start Training run" in text and "Finish Training" in text
    assert text.count("Epoch 2 end") == 1 and text.count("step ") == 4 and "loss=" in text


def test_tensorboard_writes_event_files(tmp_path: Path) -> None:
    compiled().fit(loader(), epochs=2, callbacks=[Tensorboard(tmp_path / "tb", method="step", interval=2)], verbose=0)
    events = [f for f in os.listdir(tmp_path / "tb") if f.startswith("events.out")]
    assert events and os.path.getsize(tmp_path / "tb" / events[0]) > 0


def _token_model() -> BaseModel:
    torch.manual_seed(0)
    model = BaseModel(TinyClassifier(dropout=0.0))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    return model


def test_fgm_equals_hand_written_fgm_step() -> None:
    data = list(token_loader(n=16, shuffle=False))
    model = _token_model()
    model.fit(data, epochs=1, callbacks=[AdversarialTraining("fgm", {"epsilon": 0.5})], verbose=0)
    torch.manual_seed(0)
    ref = TinyClassifier(dropout=0.0)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    fgm = FGM(ref)
    for X, y in data:
        nn.functional.cross_entropy(ref(*X), y).backward()
        fgm.attack(epsilon=0.5)
        nn.functional.cross_entropy(ref(*X), y).backward()
        fgm.restore()
        opt.step()
        opt.zero_grad()
    assert state_equal(model.unwrap().state_dict(), ref.state_dict())


def test_fgm_moves_embedding_by_epsilon_along_grad() -> None:
    net = TinyClassifier(dropout=0.0)
    X, y = next(iter(token_loader(n=8, shuffle=False)))
    nn.functional.cross_entropy(net(*X), y).backward()
    before = net.word_embeddings.weight.detach().clone()
    grad = net.word_embeddings.weight.grad.clone()
    fgm = FGM(net)
    fgm.attack(epsilon=0.3)
    torch.testing.assert_close(net.word_embeddings.weight.detach() - before, 0.3 * grad / grad.norm())
    fgm.restore()
    assert torch.equal(net.word_embeddings.weight.detach(), before)


def test_pgd_stays_in_epsilon_ball() -> None:
    net = TinyClassifier(dropout=0.0)
    X, y = next(iter(token_loader(n=8, shuffle=False)))
    before = net.word_embeddings.weight.detach().clone()
    pgd = PGD(net)
    for t in range(5):
        nn.functional.cross_entropy(net(*X), y).backward()
        pgd.attack(epsilon=0.2, alpha=0.15, is_first_attack=(t == 0))
        assert (net.word_embeddings.weight.detach() - before).norm() <= 0.2 + 1e-6
    pgd.restore()
    assert torch.equal(net.word_embeddings.weight.detach(), before)


@pytest.mark.parametrize("mode", ["pgd", "vat", "gradient_penalty", ""])
def test_adversarial_modes_train(mode: str) -> None:
    model = _token_model()
    logs_seen: list[dict] = []
    grab = LambdaCallback(on_batch_end=lambda g, l, logs: logs_seen.append(dict(logs)))
    h = model.fit(token_loader(n=16), epochs=2, callbacks=[AdversarialTraining(mode), grab], verbose=0)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len(h.history["loss"]) == 2
    assert not model.retain_graph  # restored at the end of training
    if mode == "vat":
        assert "loss_unsup" in logs_seen[0]
        assert not model.unwrap().word_embeddings._forward_hooks  # the VAT hook is removed
    if mode == "gradient_penalty":
        assert logs_seen[0]["gradient_penalty"] > 0


def test_gradient_penalty_adds_its_true_gradient() -> None:
    data = list(token_loader(n=8, shuffle=False))
    model = _token_model()
    model.fit(data, epochs=1, callbacks=[AdversarialTraining("gradient_penalty", {"epsilon": 2.0})], verbose=0)
    torch.manual_seed(0)
    ref = TinyClassifier(dropout=0.0)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for X, y in data:
        loss = nn.functional.cross_entropy(ref(*X), y)
        (g,) = torch.autograd.grad(loss, ref.word_embeddings.weight, create_graph=True)
        (loss + 0.5 * 2.0 * (g**2).sum()).backward()
        opt.step()
        opt.zero_grad()
    a, b = model.unwrap().state_dict(), ref.state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6


def test_adversarial_wrong_embedding_name() -> None:
    model = _token_model()
    with pytest.raises(ValueError, match="emb_name"):
        model.fit(token_loader(n=8), callbacks=[AdversarialTraining("fgm", {"emb_name": "nope"})], verbose=0)
