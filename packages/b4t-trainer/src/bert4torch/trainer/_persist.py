"""Weights files, resumable checkpoints and exact resume, as a mixin of BaseModel.

Exact resume: a checkpoint holds the weights, optimizer, schedulers (EMA included), AMP scaler, gradients of an
unfinished accumulation window, the counters, the epoch's running sums, History, and two RNG snapshots: the one
taken just before the current pass over the dataloader began (so the shuffled order can be rebuilt and the
consumed batches skipped) and the one at save time (so dropout continues identically).

A checkpoint folder belongs to one run: the first save writes the run's id into it (``.b4t-run-id``), and a
different run refuses to write there, so ``keep_last`` never prunes one run's files for another's and a resume
from the folder always continues the run that wrote it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ._history import History
from ._io import (
    atomic_torch_save,
    checkpoint_name,
    list_checkpoints,
    read_run_id,
    remove_stale_temporaries,
    write_run_id,
)
from ._utils import get_rng_state, set_rng_state

CHECKPOINT_FORMAT = "b4t-trainer-checkpoint"
CHECKPOINT_VERSION = 1

# trainer-state fields a checkpoint stores and a resume restores, by their checkpoint key
_COUNTERS = {
    "global_step": "global_step",
    "epoch": "epoch",
    "local_step": "local_step",
    "epoch_count": "epoch_count",
    "nan_steps": "nan_steps",
    "skipped_updates": "skipped_updates",
    "window_backwards": "window_backwards",
    "data_pass": "data_pass",
    "data_consumed": "data_consumed",
}


class CheckpointWarning(UserWarning):
    """A checkpoint file was unreadable and an older one was used instead."""


class SaveDirInUseError(FileExistsError):
    """A checkpoint folder holds another run's checkpoints."""


class PersistMixin:
    """save_weights/load_weights, the original's steps-params files, and resumable checkpoints."""

    state: Any
    unwrap: Callable[[], nn.Module]
    is_master: Callable[[], bool]

    # ------------------------------------------------------------------ weights

    def _key_mapping(self, prefix: str | None, mapping: Mapping[str, str] | None) -> dict[str, str] | None:
        if mapping is not None and prefix is not None:
            raise ValueError("give prefix or mapping, not both")
        if mapping is not None:
            return dict(mapping)
        if prefix is None:
            return None
        target = self.unwrap() if prefix == "" else getattr(self.unwrap(), prefix)
        if not callable(getattr(target, "variable_mapping", None)):
            raise AttributeError(f"prefix={prefix!r} needs {type(target).__name__}.variable_mapping()")
        sub = target.variable_mapping()
        head = "" if prefix == "" else prefix + "."
        return {head + ours: theirs for ours, theirs in sub.items()}

    def save_weights(
        self, save_path: str | os.PathLike[str], prefix: str | None = None, *, mapping: Mapping[str, str] | None = None
    ) -> None:
        """Save the weights (atomically, with the umask's file mode).

        Args:
            save_path: the file.
            prefix: the original's switch: None saves the plain state dict; ``''`` renames keys through
                ``self.variable_mapping()``; ``'bert'`` through ``self.bert.variable_mapping()``.
            mapping: an explicit ``{our_key: saved_key}`` rename; an empty dict saves the plain state dict.
        """
        state = self.unwrap().state_dict()
        renames = self._key_mapping(prefix, mapping)
        if renames:
            state = {renames.get(k, k): v for k, v in state.items()}
        if self.is_master():
            atomic_torch_save(state, save_path)

    def load_weights(
        self,
        load_path: str | os.PathLike[str],
        strict: bool = True,
        prefix: str | None = None,
        *,
        mapping: Mapping[str, str] | None = None,
    ) -> Any:
        """Load weights saved by :meth:`save_weights` (same ``prefix``/``mapping``), or a checkpoint's weights.

        Returns:
            The ``load_state_dict`` key report.
        """
        state = torch.load(load_path, map_location="cpu", weights_only=True)
        if isinstance(state, Mapping) and state.get("format") == CHECKPOINT_FORMAT:
            state = state["model"]
        renames = self._key_mapping(prefix, mapping)
        if renames:
            inverse = {v: k for k, v in renames.items()}
            state = {inverse.get(k, k): v for k, v in state.items()}
        return self.unwrap().load_state_dict(state, strict=strict)

    def save_steps_params(self, save_path: str | os.PathLike[str]) -> None:
        """Save the training position: ``{'resume_epoch', 'resume_step', 'global_step'}``."""
        st = self.state
        if self.is_master():
            position = {"resume_epoch": st.epoch, "resume_step": st.local_step, "global_step": st.global_step}
            atomic_torch_save(position, save_path)

    def load_steps_params(self, save_path: str | os.PathLike[str]) -> dict[str, int]:
        """Load the position saved by :meth:`save_steps_params`; the next ``fit`` starts there.

        This restores the position only (the original's behaviour): use :meth:`resume_from_checkpoint` for an
        exact continuation (data order, RNG, optimizer).
        """
        params = torch.load(save_path, map_location="cpu", weights_only=True)
        st = self.state
        st.resume_epoch = params["resume_epoch"]
        st.resume_step = params["resume_step"]
        trainer = {"epoch": st.resume_epoch, "local_step": st.resume_step, "global_step": params.get("global_step", 0)}
        st.resume = {"trainer": trainer}
        return dict(params)

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_state(self) -> dict[str, Any]:
        st = self.state
        mid_window = st.global_step % st.grad_accumulation_steps != 0
        trainer = {key: getattr(st, name) for key, name in _COUNTERS.items()}
        trainer.update(epoch_sums=dict(st.epoch_sums), history=self._history_state(), run_id=st.run_id)
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model": self.unwrap().state_dict(),
            "optimizer": None if st.optimizer is None else st.optimizer.state_dict(),
            "schedulers": [s.state_dict() if callable(getattr(s, "state_dict", None)) else None for s in st.schedulers],
            "scaler": None if st.scaler is None else st.scaler.state_dict(),
            # Gradients of an unfinished accumulation window: without them the next step would differ.
            "grads": [p.grad for p in st.trainable] if mid_window else None,
            "trainer": trainer,
            "rng": {"current": get_rng_state(), "data_pass": st.data_pass_rng},
        }

    def _history_state(self) -> dict[str, Any]:
        st = self.state
        if st.history is None:
            return {"epoch": [], "history": {}}
        state = st.history.state_dict()
        pending = st.pending_epoch
        # A checkpoint taken in on_epoch_end runs before History (always last) records that epoch: add it here,
        # or a resume from this checkpoint would lose the epoch's entry.
        if pending is not None and (not state["epoch"] or state["epoch"][-1] != pending[0]):
            state["epoch"].append(pending[0])
            for k, v in pending[1].items():
                state["history"].setdefault(k, []).append(v)
        return state

    def claim_save_dir(self, save_dir: str | os.PathLike[str]) -> None:
        """Make ``save_dir`` this run's checkpoint folder, or refuse when it holds another run's checkpoints.

        Raises:
            SaveDirInUseError: the folder holds checkpoints this run did not write (and was not resumed from).
        """
        save_dir = os.fspath(save_dir)
        st = self.state
        owner = read_run_id(save_dir)
        if owner == st.run_id:
            return
        resumed_here = st.resumed_dir is not None and os.path.realpath(save_dir) == st.resumed_dir
        if owner is None and (resumed_here or not list_checkpoints(save_dir)):
            if self.is_master():
                write_run_id(save_dir, st.run_id)
            return
        raise SaveDirInUseError(
            f"save_dir {save_dir!r} holds the checkpoints of another run ({owner or 'no run id'}); writing there "
            f"would mix the runs. Continue that run with model.resume_from_checkpoint({save_dir!r}) before fit(), "
            "or give this run an empty save_dir"
        )

    def save_to_checkpoint(self, save_dir: str | os.PathLike[str], keep_last: int | None = 2) -> str | None:
        """Write a resumable checkpoint ``<save_dir>/checkpoint-<steps>.pt`` (temporary file, fsync, rename).

        Older checkpoints beyond ``keep_last``, and temporary files left by killed writes, are deleted only after
        the new one is in place. Under DDP only the master writes, and every process waits for it.

        Args:
            save_dir: the folder (it must be this run's: see :meth:`claim_save_dir`).
            keep_last: how many checkpoints to keep (None: all).

        Returns:
            The path written (None on processes that do not write).
        """
        save_dir = os.fspath(save_dir)
        self.claim_save_dir(save_dir)
        state = self._checkpoint_state()
        path = None
        if self.is_master():
            path = os.path.join(save_dir, checkpoint_name(self.state.global_step))
            atomic_torch_save(state, path)
            remove_stale_temporaries(save_dir)  # halves of writes torn by an earlier kill
            if keep_last is not None:
                for old in list_checkpoints(save_dir)[keep_last:]:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(old)
        self._barrier()
        return path

    def _barrier(self) -> None:
        """Wait for the other processes (a no-op outside DDP)."""

    def resume_from_checkpoint(self, path: str | os.PathLike[str], strict: bool = True) -> str:
        """Load a checkpoint; the next :meth:`fit` continues exactly where it was taken, as the same run.

        Args:
            path: a checkpoint file, or a folder: its newest readable checkpoint is used (an unreadable one, e.g.
                torn by a disk failure, is skipped with a :class:`CheckpointWarning`).
            strict: strict weight loading.

        Returns:
            The file loaded.

        Raises:
            RuntimeError: called before :meth:`compile`.
            FileNotFoundError: the folder holds no readable checkpoint.
        """
        if self.state.optimizer is None:
            raise RuntimeError(
                "call compile() before resume_from_checkpoint(): the optimizer and schedulers are restored too "
                "(for the weights alone use load_weights(), which also reads these checkpoint files)"
            )
        path = os.fspath(path)
        candidates = list_checkpoints(path) if os.path.isdir(path) else [path]
        errors = []
        for candidate in candidates:
            try:
                state = torch.load(candidate, map_location="cpu", weights_only=True)
                if not isinstance(state, Mapping) or state.get("format") != CHECKPOINT_FORMAT:
                    raise ValueError("not a b4t-trainer checkpoint")
            except Exception as exc:  # a torn or foreign file: try the next older one
                errors.append(f"{candidate}: {exc}")
                warnings.warn(f"skipping unreadable checkpoint {candidate}: {exc}", CheckpointWarning, stacklevel=2)
                continue
            self._load_checkpoint_state(state, strict)
            self.state.resumed_dir = os.path.realpath(os.path.dirname(os.path.abspath(candidate)))
            return candidate
        raise FileNotFoundError(f"no readable checkpoint in {path}" + ("".join("\n  " + e for e in errors)))

    def _load_checkpoint_state(self, state: Mapping[str, Any], strict: bool) -> None:
        st = self.state
        self.unwrap().load_state_dict(state["model"], strict=strict)
        if st.optimizer is not None and state.get("optimizer") is not None:
            st.optimizer.load_state_dict(state["optimizer"])
        saved = state.get("schedulers") or []
        if len(saved) != len(st.schedulers):
            raise ValueError(f"the checkpoint has {len(saved)} schedulers, compile() was given {len(st.schedulers)}")
        for sched, s_state in zip(st.schedulers, saved):
            if s_state is not None:
                sched.load_state_dict(s_state)
        if st.scaler is not None and state.get("scaler"):
            st.scaler.load_state_dict(state["scaler"])
        grads = state.get("grads")
        for p, g in zip(st.trainable, grads or [None] * len(st.trainable)):
            p.grad = None if g is None else g.to(p.device)
        t = state["trainer"]
        st.resume_epoch = t["epoch"]
        st.resume_step = t["local_step"]
        st.global_step = t["global_step"]
        if t.get("run_id"):
            st.run_id = t["run_id"]
        st.resume = {"trainer": dict(t), "rng": state.get("rng")}

    def _begin_fit(self, history: History) -> tuple[int, int]:
        """Reset the counters for a fresh run, or restore them (and the data position, RNG) after a resume."""
        st = self.state
        resume = st.resume
        st.data_iter = None
        if resume is None:
            for name in _COUNTERS.values():
                setattr(st, name, 0)
            # Gradients left by an earlier fit that stopped inside an accumulation window must not leak in.
            st.optimizer.zero_grad()
            return 0, 0
        t = resume["trainer"]
        for key, name in _COUNTERS.items():
            setattr(st, name, t.get(key, 0))
        st.epoch_sums = dict(t.get("epoch_sums", {}))
        if "history" in t:
            history.load_state_dict(t["history"])
        rng = resume.get("rng")
        if rng is not None and rng.get("data_pass") is not None:
            # Rebuild the pass over the dataloader exactly as it began, skip what was consumed, then continue
            # from the RNG state of the moment the checkpoint was taken.
            consumed = st.data_consumed
            set_rng_state(rng["data_pass"])
            self._start_data_pass()  # type: ignore[attr-defined]
            for _ in range(consumed):
                next(st.data_iter)
            st.data_consumed = consumed
        if rng is not None and rng.get("current") is not None:
            set_rng_state(rng["current"])
        return st.epoch, st.local_step
