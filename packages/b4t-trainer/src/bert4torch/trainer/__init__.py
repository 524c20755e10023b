"""bert4torch.trainer: Keras-like compile/fit for any nn.Module, with callbacks and exact, crash-safe resume.

>>> import torch
>>> from torch import nn
>>> from bert4torch.trainer import BaseModel
>>> model = BaseModel(nn.Linear(4, 2))
>>> model.compile(loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
>>> data = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))] * 3
>>> history = model.fit(data, epochs=2, verbose=0)
>>> len(history.history["loss"])
2

``Tensorboard`` imports tensorboardX only when constructed (the ``tensorboard`` extra).
"""

__version__ = "0.1.0"

from ._adversarial import FGM, PGD, VAT, AdversarialTraining
from ._base import BaseModel, MetricNotFoundWarning, NonFiniteGradientWarning
from ._callback import Callback, CallbackList, LambdaCallback
from ._checkpoint import Checkpoint
from ._data import IterDataset, ListDataset
from ._early_stopping import EarlyStopping
from ._evaluator import Evaluator
from ._history import History
from ._interrupt import TrainingInterrupted
from ._logger import Logger
from ._metrics import BUILTIN_METRICS
from ._parallel import BaseModelDDP, BaseModelDP
from ._persist import CheckpointWarning, SaveDirInUseError
from ._progbar import ProgbarLogger
from ._reduce_lr import ReduceLROnPlateau
from ._state import TrainerState
from ._tensorboard import Tensorboard
from ._terminate_on_nan import TerminateOnNaN
from ._trainable import trainable
from ._utils import seed_everything

__all__ = [
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
