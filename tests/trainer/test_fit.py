"""compile/fit semantics: losses of every shape, metrics, verbosity, accumulation, NaN policy, clipping,
schedulers (with EMA), mixed precision, predict/evaluate, weights and steps params."""

from __future__ import annotations

import math
import os
from itertools import cycle
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from b4t_testing.trainer import CLASSES, TinyClassifier, mlp, state_equal, token_loader

pytest.importorskip("bert4torch.optimizers")  # b4t-losses: a sibling, absent in the trainer-only env
from bert4torch.optimizers import extend_with_exponential_moving_average, get_linear_schedule_with_warmup  # noqa: E402
from bert4torch.trainer import BaseModel, BaseModelDP, Callback, IterDataset, ListDataset, seed_everything


def xy(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def loader(batch_size: int = 8, n: int = 32, shuffle: bool = False) -> DataLoader:
    return DataLoader(TensorDataset(*xy(n)), batch_size=batch_size, shuffle=shuffle)


def compiled(seed: int = 0, lr: float = 0.1, **kw) -> BaseModel:  # type: ignore[no-untyped-def]
    model = BaseModel(mlp(seed))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=lr), **kw)
    return model


class Recorder(Callback):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_train_begin(self, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, global_step, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("epoch_begin", global_step, epoch))

    def on_batch_begin(self, global_step, local_step, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("batch_begin", global_step, local_step))

    def on_train_step_end(self, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("step_end",))

    def on_batch_end(self, global_step, local_step, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("batch_end", global_step, local_step, round(logs["loss"], 6)))

    def on_epoch_end(self, global_step, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("epoch_end", global_step, epoch))

    def on_dataloader_end(self, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("dataloader_end",))

    def on_train_end(self, logs=None):  # type: ignore[no-untyped-def]
        self.calls.append(("train_end",))


def test_fit_equals_hand_written_loop_and_hook_order() -> None:
    model = compiled()
    rec = Recorder()
    history = model.fit(loader(), epochs=2, callbacks=[rec], verbose=0)
    ref = mlp(0)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    losses = []
    for _ in range(2):
        for x, y in loader():
            loss = nn.functional.cross_entropy(ref(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
    assert state_equal(model.unwrap().state_dict(), ref.state_dict())
    assert history.history["loss"] == pytest.approx([sum(losses[:4]) / 4, sum(losses[4:]) / 4], abs=0)
    names = [c[0] for c in rec.calls]
    assert names[:6] == ["train_begin", "epoch_begin", "batch_begin", "step_end", "batch_end", "batch_begin"]
    assert names[-2:] == ["epoch_end", "train_end"]
    assert [c[1:3] for c in rec.calls if c[0] == "batch_end"] == [(g, g % 4) for g in range(8)]
    assert [c for c in rec.calls if c[0] == "epoch_end"] == [("epoch_end", 4, 0), ("epoch_end", 8, 1)]
    assert [c[3] for c in rec.calls if c[0] == "batch_end"] == [round(v, 6) for v in losses]
    assert model.global_step == 8


def test_steps_per_epoch_continues_the_stream_and_restarts_it() -> None:
    model = compiled()
    rec = Recorder()
    model.fit(loader(), steps_per_epoch=3, epochs=2, callbacks=[rec], verbose=0)  # 6 batches over a 4-batch loader
    names = [c[0] for c in rec.calls]
    assert names.count("dataloader_end") == 1
    ref = mlp(0)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    stream = cycle(list(loader()))
    for _ in range(6):
        x, y = next(stream)
        nn.functional.cross_entropy(ref(x), y).backward()
        opt.step()
        opt.zero_grad()
    assert state_equal(model.unwrap().state_dict(), ref.state_dict())


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_verbose_levels(verbose: int, capsys: pytest.CaptureFixture[str]) -> None:
    compiled().fit(loader(), epochs=2, verbose=verbose)
    out = capsys.readouterr()
    if verbose == 0:
        assert out.out == "" and out.err == ""
    elif verbose == 1:
        assert "Epoch 2/2" in out.err and "4/4" in out.err
    else:
        assert out.out.count("Epoch") == 2 and "loss=" in out.out


@pytest.mark.parametrize("form", ["dict", "tuple"])
def test_loss_may_return_dict_or_tuple_and_extras_are_logged(form: str) -> None:
    def loss_fn(out: torch.Tensor, y: torch.Tensor):  # type: ignore[no-untyped-def]
        ce = nn.functional.cross_entropy(out, y)
        reg = out.pow(2).mean()
        total = ce + 0.01 * reg
        return {"loss": total, "ce": ce, "reg": reg} if form == "dict" else (total, ce, reg)

    model = BaseModel(mlp(0))
    model.compile(loss_fn, torch.optim.SGD(model.parameters(), lr=0.1))
    h = model.fit(loader(), epochs=1, verbose=0)
    keys = {"loss", "ce", "reg"} if form == "dict" else {"loss", "loss_1", "loss_2"}
    assert set(h.history) == keys
    assert all(isinstance(v[0], float) for v in h.history.values())

    model.compile(lambda out, y: {"ce": out.sum()}, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(KeyError, match="'loss' entry"):
        model.fit(loader(), verbose=0)


def test_metrics_builtin_dict_and_named() -> None:
    def my_eval(y_pred: torch.Tensor, y_true: torch.Tensor) -> dict[str, float]:
        return {"rouge": 0.5, "bleu": torch.tensor(0.25)}

    model = compiled(metrics=["accuracy", my_eval, {"f1": lambda p, t: 0.75}])
    rec: list[dict] = []

    class Grab(Callback):
        def on_batch_end(self, global_step, local_step, logs=None):  # type: ignore[no-untyped-def]
            rec.append(dict(logs))

    model.fit(loader(n=8), epochs=1, callbacks=[Grab()], verbose=0)
    logs = rec[0]
    assert set(logs) == {"loss", "accuracy", "rouge", "bleu", "f1"}
    assert logs["bleu"] == 0.25 and logs["f1"] == 0.75
    regression = BaseModel(nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)))
    regression.compile(
        nn.MSELoss(), torch.optim.SGD(regression.parameters(), lr=0.01), metrics=["mae", "mse", "mape", "msle"]
    )
    x, _ = xy(8)
    h = regression.fit([(x, x[:, 0].abs())], epochs=1, verbose=0)
    assert set(h.history) == {"loss", "mae", "mse", "mape", "msle"}
    assert h.history["mse"] == pytest.approx(h.history["loss"])
    # accuracy on logits compares the argmax; the regression metrics compare the raw tensors (as the original)
    out = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
    from bert4torch.trainer import BUILTIN_METRICS

    assert BUILTIN_METRICS["acc"][1](out, torch.tensor([0, 0])) == 0.5
    assert BUILTIN_METRICS["mae"][1](torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0])) == pytest.approx(1.5)
    assert BUILTIN_METRICS["MSE"][1](torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0])) == pytest.approx(2.5)
    assert BUILTIN_METRICS["mape"][1](torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0])) == pytest.approx(125.0)
    msle = ((math.log(2) - math.log(3)) ** 2 + (math.log(4) - math.log(2)) ** 2) / 2
    assert BUILTIN_METRICS["msle"][1](torch.tensor([1.0, 3.0]), torch.tensor([2.0, 1.0])) == pytest.approx(msle)


def test_grad_accumulation_8x1_equals_4x2() -> None:
    x, y = xy(16)
    full = compiled(lr=0.5)
    full.fit(DataLoader(TensorDataset(x, y), batch_size=8), epochs=1, verbose=0)
    acc = compiled(lr=0.5, grad_accumulation_steps=2)
    acc.fit(DataLoader(TensorDataset(x, y), batch_size=4), epochs=1, verbose=0)
    a, b = full.unwrap().state_dict(), acc.unwrap().state_dict()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    assert full.global_step == 2 and acc.global_step == 4


def test_nan_policy_skip_and_raise() -> None:
    x, y = xy(16)
    x_bad = x.clone()
    x_bad[8:12] = float("nan")  # the third batch of 4 gives a NaN loss
    seed_everything(0)
    model = compiled(lr=0.1)
    h = model.fit(DataLoader(TensorDataset(x_bad, y), batch_size=4), epochs=1, verbose=0)
    assert model.nan_steps == 1 and math.isnan(h.history["loss"][0])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # equal to training on the three good batches only
    ref = compiled(lr=0.1)
    keep = torch.cat([torch.arange(0, 8), torch.arange(12, 16)])
    ref.fit(DataLoader(TensorDataset(x[keep], y[keep]), batch_size=4), epochs=1, verbose=0)
    assert state_equal(model.unwrap().state_dict(), ref.unwrap().state_dict())

    raising = compiled(nan_policy="raise")
    with pytest.raises(FloatingPointError, match="loss is nan"):
        raising.fit(DataLoader(TensorDataset(x_bad, y), batch_size=4), verbose=0)


def test_nan_in_whole_accumulation_window_skips_optimizer_and_scheduler() -> None:
    x, y = xy(8)
    x[:4] = float("nan")
    model = BaseModel(mlp(0))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    sched = get_linear_schedule_with_warmup(opt, 0, 10)
    model.compile(nn.CrossEntropyLoss(), opt, scheduler=sched, grad_accumulation_steps=2)
    before = {k: v.clone() for k, v in model.unwrap().state_dict().items()}
    model.fit(DataLoader(TensorDataset(x[:4], y[:4]), batch_size=2), epochs=1, verbose=0)
    assert state_equal(before, model.unwrap().state_dict())
    assert sched.last_epoch == 0 and not opt.state


def test_clip_grad_norm_and_its_alias() -> None:
    for kw in ({"clip_grad_norm": 0.01}, {"clip_gram_norm": 0.01}):
        model = compiled(lr=1.0, **kw)
        before = [p.detach().clone() for p in model.parameters()]
        model.fit(loader(n=8), epochs=1, verbose=0)
        step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)])
        assert step.norm().item() == pytest.approx(0.01, rel=1e-4)  # lr 1 * gradient clipped to norm 0.01


def test_scheduler_list_with_ema_like_the_original_examples() -> None:
    model = BaseModel(mlp(0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ema = extend_with_exponential_moving_average(model, decay=0.5)
    warmup = get_linear_schedule_with_warmup(opt, 2, 8)
    model.compile(nn.CrossEntropyLoss(), opt, scheduler=[ema, warmup])
    model.fit(loader(), epochs=2, verbose=0)
    assert warmup.last_epoch == 8 and opt.param_groups[0]["lr"] == 0.0
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    ema.apply_ema_weights()
    assert not state_equal(raw, model.state_dict())
    ema.restore_raw_weights()
    assert state_equal(raw, model.state_dict())


def test_custom_fit_uses_optimizer_and_criterion_after_compile() -> None:
    class Model(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp(0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def fit(self, train_dataloader, steps_per_epoch, epochs):  # type: ignore[no-untyped-def,override]
            train_dataloader = cycle(train_dataloader)
            self.train()
            for _ in range(epochs):
                for _ in range(steps_per_epoch):
                    train_X, train_y = next(train_dataloader)
                    output = self.forward(*[train_X])
                    loss = self.criterion(output, train_y)
                    loss.backward()
                    self.optimizer.step()
                    self.optimizer.zero_grad()

    model = Model()
    model.compile(loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    assert model.scheduler is None
    model.fit(loader(), steps_per_epoch=4, epochs=1)
    wrapped = compiled()
    wrapped.fit(loader(), epochs=1, verbose=0)
    assert state_equal(model.net.state_dict(), wrapped.unwrap().state_dict())
    assert "criterion" not in dict(model.named_modules())  # the loss is no submodule


def test_predict_and_evaluate_restore_training_mode() -> None:
    model = compiled(metrics="accuracy")
    model.train()
    x, y = xy(8)
    out = model.predict(x)
    assert model.training and not out.requires_grad
    assert torch.equal(out, model.unwrap()(x).detach())
    scores = model.evaluate(loader(n=16))
    assert set(scores) == {"loss", "accuracy"} and model.training

    class Two(BaseModel):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return x, x * 2

    assert torch.equal(Two().predict(torch.ones(2), return_all=1), torch.full((2,), 2.0))


def test_mixed_precision_bf16_trains_and_fp16_scaler_is_used() -> None:
    model = compiled(mixed_precision="bf16")
    h = model.fit(loader(), epochs=2, verbose=0)
    assert all(math.isfinite(v) for v in h.history["loss"])
    assert model.state.scaler is None
    amp = compiled(use_amp=True)
    assert amp.state.scaler is not None and amp.mixed_precision == "fp16"
    amp.fit(loader(), epochs=1, verbose=0)
    assert all(torch.isfinite(p).all() for p in amp.parameters())


def test_save_and_load_weights_plain_prefix_and_mapping(tmp_path: Path) -> None:
    class WithMapping(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(2, 2)

        def variable_mapping(self) -> dict[str, str]:
            return {"dense.weight": "bert.pooler.dense.weight", "dense.bias": "bert.pooler.dense.bias"}

    class Model(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.bert = WithMapping()

    a, b = Model(), Model()
    a.save_weights(tmp_path / "plain.pt")
    b.load_weights(tmp_path / "plain.pt")
    assert state_equal(a.state_dict(), b.state_dict())
    a.save_weights(tmp_path / "prefixed.pt", prefix="bert")
    assert set(torch.load(tmp_path / "prefixed.pt", weights_only=True)) == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
    }
    Model().load_weights(tmp_path / "prefixed.pt", prefix="bert")
    a.save_weights(tmp_path / "mapped.pt", mapping={"bert.dense.weight": "w"})
    assert "w" in torch.load(tmp_path / "mapped.pt", weights_only=True)
    c = Model()
    c.load_weights(tmp_path / "mapped.pt", mapping={"bert.dense.weight": "w"})
    assert state_equal(a.state_dict(), c.state_dict())
    a.save_weights(tmp_path / "empty_mapping.pt", mapping={})
    assert set(torch.load(tmp_path / "empty_mapping.pt", weights_only=True)) == set(a.state_dict())
    with pytest.raises(RuntimeError, match="Missing key"):
        BaseModel(nn.Linear(3, 3)).load_weights(tmp_path / "plain.pt")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_steps_params_round_trip_sets_resume_position(tmp_path: Path) -> None:
    model = compiled()
    model.fit(loader(), epochs=1, verbose=0)
    model.save_steps_params(tmp_path / "steps.pt")
    other = compiled()
    params = other.load_steps_params(tmp_path / "steps.pt")
    assert params == {"resume_epoch": 1, "resume_step": 0, "global_step": 4}
    assert other.resume_epoch == 1 and other.resume_step == 0
    rec = Recorder()
    other.fit(loader(), epochs=2, callbacks=[rec], verbose=0)
    assert [c for c in rec.calls if c[0] == "epoch_begin"] == [("epoch_begin", 4, 1)]


def test_datasets(tmp_path: Path) -> None:
    class MyDataset(ListDataset):
        @staticmethod
        def load_data(filenames):  # type: ignore[no-untyped-def]
            with open(filenames, encoding="utf-8") as f:
                return [line.strip() for line in f]

    path = tmp_path / "d.txt"
    path.write_text("a\nb\nc\n", encoding="utf-8")
    assert list(MyDataset(str(path))) == ["a", "b", "c"]
    assert len(ListDataset(data=[1, 2])) == 2
    with pytest.raises(ValueError, match="file_path"):
        ListDataset()
    assert list(IterDataset([str(path), str(path)])) == ["a\n", "b\n", "c\n"] * 2
    with pytest.raises(ValueError, match="file path"):
        IterDataset(3)  # type: ignore[arg-type]


def test_seed_everything_repeats() -> None:
    import random

    seed_everything(7)
    a = (random.random(), torch.rand(1).item())
    seed_everything(7)
    assert (random.random(), torch.rand(1).item()) == a
    assert isinstance(seed_everything(), int)


def test_data_parallel_wrapper_on_cpu_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    model = BaseModelDP(mlp(0))
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    model.fit(loader(), epochs=1, verbose=0)
    ref = compiled()
    ref.fit(loader(), epochs=1, verbose=0)
    assert state_equal(model.unwrap().state_dict(), ref.unwrap().state_dict())
    text = BaseModel(TinyClassifier()).summary()
    assert "word_embeddings" in text and "Total params" in capsys.readouterr().out
    assert str(sum(p.numel() for p in TinyClassifier().parameters())) in text.replace(",", "")
    assert CLASSES == 3


def test_token_model_with_list_inputs() -> None:
    model = BaseModel(TinyClassifier())
    model.compile(nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.01), metrics=["accuracy"])
    h = model.fit(token_loader(), epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_fp16_overflow_skips_the_step_and_the_scheduler() -> None:
    torch.manual_seed(0)
    model = BaseModel(nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    # x 1e4 x the initial scale 65536 overflows fp16 gradients: GradScaler skips the step and halves its scale.
    model.compile(lambda out, y: out.float().sum() * 1e4, opt, scheduler=sched, use_amp=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.fit([(torch.randn(8, 4), torch.zeros(8))], epochs=1, verbose=0)
    assert state_equal(before, model.state_dict())
    assert sched.last_epoch == 0 and model.state.scaler.get_scale() == 32768.0
