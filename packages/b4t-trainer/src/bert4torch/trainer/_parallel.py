"""The trainer on ``nn.DataParallel`` and ``DistributedDataParallel``."""

from __future__ import annotations

from typing import Any

from torch import nn

from ._base import BaseModel
from ._persist import SaveDirInUseError


class BaseModelDP(nn.DataParallel, BaseModel):
    """``nn.DataParallel`` with the trainer; ``BaseModelDP(model, device_ids=...)`` as for DataParallel.

    Checkpoints and ``save_weights`` hold the wrapped module's keys (no ``module.`` prefix).
    """

    def __init__(self, module: nn.Module, device_ids: Any = None, output_device: Any = None, dim: int = 0) -> None:
        # DataParallel's super().__init__() reaches BaseModel.__init__ through the MRO, which makes the state
        nn.DataParallel.__init__(self, module, device_ids=device_ids, output_device=output_device, dim=dim)
        self.state.wraps = True


class BaseModelDDP(nn.parallel.DistributedDataParallel, BaseModel):
    """``DistributedDataParallel`` with the trainer. Only ``master_rank`` prints and writes files.

    Launch with ``torchrun`` (or the original's ``--local_rank`` launcher) after
    ``torch.distributed.init_process_group``. A ``DistributedSampler`` gets ``set_epoch`` at each pass over the
    data. Checkpoints hold the wrapped module's keys, so they load into a single-process model and back.
    The RNG state saved is the master's, and every rank resumes from it: weights, optimizer and the sampler's data
    order continue exactly; random draws such as dropout on ranks other than the master do not repeat the killed
    run's.

    Args:
        module: the model to wrap.
        *args: DistributedDataParallel's positional arguments.
        master_rank: the rank that prints and writes.
        **kwargs: DistributedDataParallel's keyword arguments (it rejects unknown ones itself).
    """

    def __init__(self, module: nn.Module, *args: Any, master_rank: int = 0, **kwargs: Any) -> None:
        nn.parallel.DistributedDataParallel.__init__(self, module, *args, **kwargs)
        self.state.wraps = True
        self.__dict__["master_rank"] = master_rank

    def is_master(self) -> bool:
        import torch.distributed as dist

        return not dist.is_initialized() or dist.get_rank() == self.master_rank

    def _barrier(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()

    def claim_save_dir(self, save_dir: Any) -> None:
        """The master checks and claims the folder (run ids differ between ranks); every rank gets its verdict."""
        import torch.distributed as dist

        if not dist.is_initialized():
            return super().claim_save_dir(save_dir)
        verdict: list[str | None] = [None]
        if self.is_master():
            try:
                super().claim_save_dir(save_dir)
            except SaveDirInUseError as exc:
                verdict = [str(exc)]
        dist.broadcast_object_list(verdict, src=self.master_rank)
        if verdict[0] is not None:
            raise SaveDirInUseError(verdict[0])
        return None
