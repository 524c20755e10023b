"""``build_transformer_model``: config in, model out, checkpoint loaded strictly without a second copy.

Contract:

* ``config_path`` is an HF ``config.json`` (as is), an original bert4torch config, a folder holding one, or None
  (then the config of a ``checkpoint_path`` folder that holds one, else every option comes from keywords). Keyword
  options override the file. Unknown options raise ``ConfigError`` naming the closest valid option (see ``_config``). A ``"model"`` key in the file selects the
  family when ``model`` is left at its default.
* ``model`` is a registered name (``_registry.MODELS``) or a class (a custom subclass of ``BERT_BASE``/``BERT``).
* ``application='lm'|'unilm'`` wraps the class with ``LM_Mask``/``UniLM_Mask`` and switches ``with_mlm`` on
  (a string value such as ``'softmax'`` is kept).
* ``checkpoint_path``: see ``_weights.resolve_checkpoint_files``. Our own classes are built on the meta device and
  the checkpoint tensors are assigned into them (no random init, one copy in memory); parameters the checkpoint
  does not provide are then allocated and initialised. Custom classes are built normally and copied into.
* ``return_model_config=True`` returns ``(model, config_dict)``.
* With b4t-trainer installed (``add_trainer=None``) the returned model is also a ``bert4torch.trainer.BaseModel``
  (``compile``/``fit``), as at v0.2.5: an instance of ``bert4torch.trainer.trainable(Family)``, a named class that
  pickles. ``add_trainer=False`` returns the plain family class; ``True`` requires b4t-trainer.
  ``forward`` accepts the list or the unpacked items, so the trainer's unpacking works.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ._base import ModelBase
from ._config import read_config_file
from ._encoder import BERT_BASE, extend_with_language_model, extend_with_unified_language_model
from ._loading import load_weights
from ._registry import resolve_model

__all__ = ["build_transformer_model"]


def _add_trainer(model_class: type[ModelBase], add_trainer: bool | None) -> type[ModelBase]:
    """``bert4torch.trainer.trainable(model_class)`` (the family plus ``compile``/``fit``), or the plain class.

    None: when b4t-trainer imports (v0.2.5 returned a trainer model); True: required; False: never.
    """
    if add_trainer is False:
        return model_class
    try:
        import bert4torch.trainer as trainer
    except ImportError as exc:
        if add_trainer:
            raise ImportError('add_trainer=True needs b4t-trainer: pip install "b4t-models[trainer]"') from exc
        return model_class
    trainable = getattr(trainer, "trainable", None)
    if trainable is None:  # a b4t-trainer release that predates trainable()
        from ._trainable import trainable
    return trainable(model_class)


def _with_application(model_class: type[ModelBase], model: Any, application: str, kwargs: dict[str, Any]
                      ) -> type[ModelBase]:
    """``application='lm'|'unilm'``: the class with the causal/UniLM mask, and ``with_mlm`` on in ``kwargs``."""
    app = (application or "encoder").lower()
    if app in ("lm", "unilm"):
        family = model.lower() if isinstance(model, str) else model_class.__name__.lower()
        if family in ("electra", "t5"):
            raise ValueError(f"application={application!r} is not available for model={model!r}")
        kwargs["with_mlm"] = kwargs.get("with_mlm") or True
        model_class = (extend_with_language_model if app == "lm" else extend_with_unified_language_model)(model_class)
    elif app != "encoder":
        raise ValueError(f"unknown application={application!r}; use 'encoder', 'lm' or 'unilm'")
    return model_class


def _folder_with_config(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and any(
        os.path.isfile(os.path.join(path, name)) for name in ("bert4torch_config.json", "config.json"))


def build_transformer_model(
    config_path: str | os.PathLike | None = None,
    checkpoint_path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    model: str | type[BERT_BASE] = "bert",
    application: str = "encoder",
    return_model_config: bool = False,
    add_trainer: bool | None = None,
    **kwargs: Any,
) -> nn.Module | tuple[nn.Module, dict[str, Any]]:
    """Build a model of family ``model`` from ``config_path`` and load ``checkpoint_path`` strictly.

    Args:
        config_path: HF ``config.json``, an original-style config, a folder, or None (a ``checkpoint_path``
            folder's config, if it has one).
        checkpoint_path: ``.safetensors``/``.bin``/``.pt`` file, list of shards, shard index json, folder, or None.
        model: family name (see ``bert4torch.models.MODELS``) or a model class.
        application: ``'encoder'``, ``'lm'`` (causal mask) or ``'unilm'`` (UniLM mask).
        return_model_config: also return the merged config dict.
        add_trainer: None: the model is also a ``bert4torch.trainer.BaseModel`` (``compile``/``fit``) when b4t-trainer
            is installed; True: require it; False: the plain family class.
        **kwargs: model options (validated by the family's config class: ``with_pool``, ``with_mlm``,
            ``segment_vocab_size``, ``keep_tokens``, ``ignore_invalid_weights``, ...). Not a sink: a typo raises.

    Returns:
        The model, or ``(model, config)`` with ``return_model_config``.

    Raises:
        ConfigError: unknown or invalid option. ValueError: unknown ``model`` name or application.
        WeightLoadingError: missing/unexpected/mis-shaped weights (unless ``ignore_invalid_weights=True``).
        CheckpointError: unreadable checkpoint.
    """
    if config_path is None and _folder_with_config(checkpoint_path):
        config_path = checkpoint_path  # an HF-format folder: its config.json sits beside the weights
    configs: dict[str, Any] = read_config_file(config_path) if config_path is not None else {}
    file_model = configs.pop("model", None)
    if isinstance(model, str) and model == "bert" and isinstance(file_model, str):
        model = file_model
    model_class = resolve_model(model) if isinstance(model, str) else model
    if not (isinstance(model_class, type) and issubclass(model_class, ModelBase)):
        raise TypeError(f"model must be a registered name or a subclass of a bert4torch.models family (BERT_BASE...), "
                        f"got {model!r}")

    model_class = _with_application(model_class, model, application, kwargs)
    model_class = _add_trainer(model_class, add_trainer)
    options = model_class.config_class.from_dict(configs, overrides=kwargs).to_dict()
    # our classes can be built on the meta device: nothing is initialised that the checkpoint will overwrite
    use_meta = checkpoint_path is not None and model_class.__module__.startswith("bert4torch.")
    with torch.device("meta") if use_meta else contextlib.nullcontext():
        transformer = model_class(**options)
    if checkpoint_path is not None:
        report = load_weights(transformer, checkpoint_path,
                              ignore_invalid_weights=bool(options.get("ignore_invalid_weights")), assign=use_meta)
        if use_meta:  # what the checkpoint did not provide is initialised now (and reported)
            fresh = transformer.materialize()
            report.initialized.extend(n for n in fresh if n not in report.initialized)
    transformer.configs = options  # type: ignore[assignment]  # the original exposes the merged config
    if return_model_config:
        return transformer, options
    return transformer
