"""TrainerState: everything the trainer keeps on a model, in one typed object outside nn.Module's registries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Names users and callbacks read (and some set) on the model itself: ``model.global_step``, ``model.epoch``...
PUBLIC_FIELDS = (
    "optimizer",
    "criterion",
    "scheduler",
    "clip_grad_norm",
    "grad_accumulation_steps",
    "nan_policy",
    "mixed_precision",
    "retain_graph",
    "stop_training",
    "global_step",
    "local_step",
    "epoch",
    "bti",
    "resume_step",
    "resume_epoch",
    "nan_steps",
    "last_loss_finite",
    "last_loss_value",
    "history",
    "train_dataloader",
    "steps_per_epoch",
    "epochs",
    "total_steps",
    "train_X",
    "train_y",
    "output",
    "loss",
    "loss_detail",
)


@dataclass
class TrainerState:
    """The trainer's state on one model (``model.state``); the public fields are also properties of the model.

    Nothing here enters the model's state dict: checkpoints save the parts a resume needs explicitly.
    """

    # compile()
    optimizer: Any = None
    criterion: Any = None
    scheduler: Any = None
    schedulers: list[Any] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    loss_key_metrics: tuple[str, ...] = ()
    scaler: Any = None
    autocast: tuple[str, Any] | None = None
    clip_grad_norm: float | None = None
    grad_accumulation_steps: int = 1
    nan_policy: str = "skip"
    mixed_precision: str | None = None
    trainable: list[Any] = field(default_factory=list)
    trainable_names: list[str] = field(default_factory=list)
    finite_check: Any = None
    run_id: str = ""
    # what the model is
    wraps: bool = False
    retain_graph: bool = False
    # progress
    stop_training: bool = False
    global_step: int = 0
    local_step: int = 0
    epoch: int = 0
    bti: int = 0  # the current batch's index in the dataloader (0 again when it restarts), as the original's
    resume_step: int = 0
    resume_epoch: int = 0
    nan_steps: int = 0
    skipped_updates: int = 0
    last_loss_finite: bool = True
    last_loss_value: float = 0.0
    window_backwards: int = 0
    epoch_sums: dict[str, float] = field(default_factory=dict)
    epoch_count: int = 0
    history: Any = None
    pending_epoch: tuple[int, dict[str, float]] | None = None
    resume: dict[str, Any] | None = None
    resumed_dir: str | None = None
    stop_signal: int | None = None
    # fit()
    train_dataloader: Any = None
    steps_per_epoch: int = 0
    epochs: int = 0
    total_steps: int = 0
    fit_target: Any = None
    unpack: bool = True
    data_pass: int = 0
    data_iter: Any = None
    data_consumed: int = 0
    data_pass_rng: dict[str, Any] | None = None
    # the current batch, for callbacks (adversarial training re-runs train_step on it)
    train_X: Any = None
    train_y: Any = None
    output: Any = None
    loss: Any = None
    loss_detail: dict[str, Any] | None = None


def state_property(name: str) -> property:
    """A model property reading and writing ``model.state.<name>``."""

    def get(self: Any) -> Any:
        return getattr(self.state, name)

    def set_(self: Any, value: Any) -> None:
        setattr(self.state, name, value)

    return property(get, set_, doc=f"``self.state.{name}`` (see :class:`TrainerState`).")
