"""``ModelBase``: what every family (encoder, decoder, seq2seq) shares: weights I/O and ``predict``.

A built model is an instance of a plain, importable class, so it pickles, deep-copies and ``torch.save``s like any
``nn.Module``. The weights methods have the signature of ``bert4torch.trainer.BaseModel``'s methods of the same name
(``save_weights(save_path, prefix=None, *, mapping=None)``, ``load_weights(load_path, strict=True, prefix=None, *,
mapping=None)``), so the class ``bert4torch.trainer.trainable(Family)`` resolves them the same way whichever wins.

Families provide ``checkpoint_state()`` (the weights under the checkpoint's keys, the derived inverse of the weight
map) and ``variable_mapping()``; the strict loader in ``_weights`` does the rest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ._weights import LoadReport, load_weights, save_state_dict

__all__ = ["ModelBase"]


class ModelBase(nn.Module):
    """Weights I/O and ``predict`` for every family; subclasses provide ``checkpoint_state``."""

    @classmethod
    def config_from(cls, config: Any, options: Mapping[str, Any]) -> Any:
        """The config from a config object and/or keyword options (validated by ``cls.config_class.from_dict``)."""
        if config is None:
            return cls.config_class.from_dict(options)  # type: ignore[attr-defined]
        if options:
            return cls.config_class.from_dict(config.to_dict(), overrides=options)  # type: ignore[attr-defined]
        return config

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Our weights under the checkpoint's keys (families implement it)."""
        raise NotImplementedError(f"{type(self).__name__} has no checkpoint layout")

    def _ignores_invalid_weights(self) -> bool:
        return bool(getattr(getattr(self, "config", None), "ignore_invalid_weights", False))

    def load_weights(
        self,
        load_path: str | os.PathLike | Sequence[str | os.PathLike] | Mapping[str, torch.Tensor],
        strict: bool = True,
        prefix: str | None = None,
        *,
        mapping: Mapping[str, Any] | None = None,
    ) -> LoadReport:
        """Load weights saved by :meth:`save_weights` (either key layout) or any checkpoint of the family.

        Args:
            load_path: a file, folder, list of shards, shard index, or a state dict.
            strict: False (or the config's ``ignore_invalid_weights``) turns key/shape problems into one warning.
            prefix: the checkpoint's key prefix when it differs from the family's (``'bert'``); None: the family's.
            mapping: ``{checkpoint key: our parameter}`` replacing the family's weight map.

        Returns:
            The :class:`LoadReport` (also kept on ``model.load_report``).
        """
        return load_weights(self, load_path, mapping, prefix=prefix,
                            ignore_invalid_weights=not strict or self._ignores_invalid_weights())

    def load_weights_from_pytorch_checkpoint(self, checkpoint: Any, mapping: Mapping[str, Any] | None = None
                                             ) -> LoadReport:
        """Load a checkpoint strictly (the original's method name). ``mapping`` overrides the family map."""
        return self.load_weights(checkpoint, mapping=mapping)

    def save_weights(self, save_path: str | os.PathLike, prefix: str | None = None, *,
                     mapping: Mapping[str, str] | str | None = None) -> None:
        """Save weights.

        Args:
            save_path: ``.safetensors`` writes safetensors; any other suffix ``torch.save``.
            prefix: None: our parameter names (the state dict, so
                ``model.load_state_dict(torch.load(path, weights_only=True))`` works); ``''``: the family's checkpoint
                layout (loadable by other frameworks); a submodule name: that submodule's ``variable_mapping()``.
            mapping: ``'checkpoint'`` (the same as ``prefix=''``) or a dict ``{our name: key}`` renaming those keys.

        Everything saved here loads back with :meth:`load_weights` or ``build_transformer_model``.
        """
        if mapping is not None and prefix is not None:
            raise ValueError("give prefix or mapping, not both")
        if mapping == "checkpoint" or prefix == "":
            state = self.checkpoint_state()
        elif isinstance(mapping, Mapping) or mapping is None:
            renames = dict(mapping or {})
            if prefix is not None:
                renames = {f"{prefix}.{ours}": theirs
                           for ours, theirs in self.get_submodule(prefix).variable_mapping().items()}
            state = {renames.get(k, k): v for k, v in self.state_dict().items()}
        else:
            raise ValueError(f"mapping must be None, 'checkpoint' or a dict, got {mapping!r}")
        save_state_dict(state, save_path)

    def predict(self, inputs: Any, return_all: int | None = None) -> Any:
        """Forward in eval mode without gradients, restoring the previous mode (the original's helper).

        Args:
            inputs: the list input (or a single tensor).
            return_all: when the output is a tuple/list, the index of the element to return (None: all).
        """
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                output = self(inputs)
        finally:
            self.train(was_training)
        return output if return_all is None else output[return_all]
