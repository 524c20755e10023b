"""``ModelBase``: the one base of every family (encoders, decoders, encoder-decoders).

A family is a config class, a weight map and a build (its ``build()`` and, for new kinds of models, ``forward``);
this class does the rest:

* ``config_class``; ``__init__(config=None, /, **options)`` takes a config object and/or its fields as keywords
  (validated by ``config_class.from_dict``: a typo raises);
* ``prefix`` and ``weight_map`` (see ``_weights``): the checkpoint's keys; ``checkpoint_map()`` the map used for
  saving (default: the same); ``hf_model_type``/``hf_architecture``/``to_hf_config()`` for ``save_pretrained``;
* tying: ``tied_weights()`` names ``{alias: owner}``; ``tie_weights``/``untie_weights`` act on it;
* ``__init__`` reads the config, calls ``build()``, then ``finish_build()``: tie, initialise (normal with the
  config's ``initializer_range``, ``init_model_weights``), tie again;
* the loader's hooks: ``convert_checkpoint_tensors``/``restore_checkpoint_tensors`` (format surgery),
  ``load_variable`` (option-dependent surgery), ``expected_new_parameters``;
* ``load_weights``/``save_weights``/``save_pretrained``/``checkpoint_state``/``variable_mapping``/``predict``.

A built model is an instance of a plain, importable class, so it pickles, deep-copies and ``torch.save``s like any
``nn.Module``. The weights methods have the signature of ``bert4torch.trainer.BaseModel``'s methods of the same name,
so the class ``bert4torch.trainer.trainable(Family)`` resolves them the same way whichever wins.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bert4torch.layers import LayerNorm

from ._config import ConfigError, ModelConfig
from ._loading import LoadReport, load_weights
from ._weights import WeightMap, invert_weight_map, save_state_dict, template_key

__all__ = ["ModelBase", "output_activation", "run_eval", "unpack_inputs"]

# class-statement keyword -> the class attribute it sets (see ModelBase.__init_subclass__)
_DECLARED = {"config": "config_class", "prefix": "prefix", "weight_map": "weight_map",
             "hf_model_type": "hf_model_type", "hf_architecture": "hf_architecture"}


def unpack_inputs(inputs: Any, names: tuple[str, ...]) -> list[Any]:
    """Accept the original's one-list input (``model([a, b])``), the unpacked items (``model(a, b)``, how the trainer
    calls a model with a batch's list) or a bare tensor for a single input, and check the count against ``names``."""
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    items = list(inputs)
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = list(items[0])
    if len(items) != len(names):
        raise ValueError(f"expected inputs [{', '.join(names)}], got {len(items)} item(s)")
    return items


def run_eval(module: nn.Module, call: Callable[[], Any]) -> Any:
    """``call()`` with ``module`` in eval mode and without gradients, then its previous mode back (``predict``)."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            return call()
    finally:
        module.train(was_training)


def output_activation(logits: Tensor, final_activation: str | bool | None) -> Tensor:
    """The head's explicit output option: ``'linear'`` (or True/None) returns logits, an activation name applies it."""
    if final_activation in ("linear", True, None):
        return logits
    if final_activation == "softmax":
        return logits.softmax(dim=-1)
    from bert4torch.activations import get_activation

    return get_activation(final_activation)(logits)


class ModelBase(nn.Module):
    """What every family shares; subclasses set the class attributes and build their modules in ``__init__``."""

    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    prefix: ClassVar[str] = ""
    weight_map: ClassVar[WeightMap] = {}
    hf_model_type: ClassVar[str | None] = None
    hf_architecture: ClassVar[str | None] = None

    def __init_subclass__(cls, **declared: Any) -> None:
        """A family declares what makes it one in its class statement: ``class GPT2(CausalLM, config=GPT2Config,
        prefix='transformer', weight_map=GPT2_WEIGHT_MAP, hf_model_type='gpt2', hf_architecture='GPT2LMHeadModel')``
        sets ``config_class``, ``prefix``, ``weight_map``, ``hf_model_type`` and ``hf_architecture``."""
        for key, attr in _DECLARED.items():
            if key in declared:
                setattr(cls, attr, declared.pop(key))
        super().__init_subclass__(**declared)

    def __init__(self, config: ModelConfig | None = None, /, **options: Any) -> None:
        super().__init__()
        self.config = self.config_from(config, options)
        self.load_report: LoadReport | None = None
        self.build()
        self.finish_build()

    def build(self) -> None:
        """Create the family's modules under their checkpoint names (every family implements it)."""
        raise NotImplementedError(f"{type(self).__name__} does not build anything")

    @classmethod
    def config_from(cls, config: ModelConfig | None, options: Mapping[str, Any]) -> ModelConfig:
        """The config from a config object and/or keyword options (validated by ``cls.config_class.from_dict``)."""
        if config is None:
            return cls.config_class.from_dict({}, overrides=options)
        if options:
            return cls.config_class.from_dict(config.to_dict(), overrides=options)
        return config

    def finish_build(self) -> None:
        """Tie, initialise every module (modules on the meta device wait for the checkpoint), tie again."""
        self.tie_weights()
        user = self.user_modules()
        for module in self.modules():
            if id(module) not in user:
                self.init_model_weights(module)
        self.tie_weights()

    # ------------------------------------------------------------------------------------------------ weights
    def user_modules(self) -> set[int]:
        """Ids of the modules the user passed in: never re-initialised (encoders override)."""
        return set()

    def init_model_weights(self, module: nn.Module) -> None:
        """normal(0, ``initializer_range``) for Linear/Embedding weights, zero biases, unit norms; a conditional
        LayerNorm's ``dense1``/``dense2`` start at zero (so a pretrained model starts out unchanged)."""
        if any(t.is_meta for t in module.parameters(recurse=False)):
            return  # built for loading: the checkpoint provides the values (and normal_ on meta is expensive)
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, LayerNorm):
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            if module.conditional_size:
                nn.init.zeros_(module.dense1.weight)
                nn.init.zeros_(module.dense2.weight)

    def materialize(self) -> list[str]:
        """Allocate and initialise every tensor still on the meta device (what a checkpoint did not provide).

        Returns:
            The names of the tensors initialised here.
        """
        names = [n for n, t in self.state_dict(keep_vars=True).items() if t.is_meta]
        pending = [m for m in self.modules()
                   if any(t.is_meta for t in [*m.parameters(recurse=False), *m.buffers(recurse=False)])]
        for module in pending:
            module.to_empty(device="cpu", recurse=False)
            self._init_own_tensors(module)
            self.init_model_weights(module)
        pending_ids = {id(m) for m in pending}
        for module in self.modules():  # a conditional LayerNorm whose own gain was loaded: dense1/dense2 at zero
            if isinstance(module, LayerNorm) and module.conditional_size:
                for dense in (module.dense1, module.dense2):
                    if id(dense) in pending_ids:
                        nn.init.zeros_(dense.weight)
        self.tie_weights()
        return names

    def _init_own_tensors(self, module: nn.Module) -> None:
        """A fresh value for the tensors a module holds itself outside the layer types ``init_model_weights`` knows
        (``mlmBias``, ``final_logits_bias``, T5's position bias...): biases at zero, the others normal(0,
        ``initializer_range``); buffers at zero. Families refine it in ``init_model_weights``, which runs after."""
        if isinstance(module, (nn.Linear, nn.Embedding, LayerNorm)):
            return
        with torch.no_grad():
            for name, tensor in module.named_parameters(recurse=False):
                if "bias" in name.lower():
                    tensor.zero_()
                else:
                    tensor.normal_(0.0, self.config.initializer_range)
            for tensor in module.buffers(recurse=False):
                tensor.zero_()

    def added_parameters(self) -> set[str]:
        """Parameters the user asked to add, which a checkpoint may lack: initialised with a notice when it does.

        Here: those of a user's subclass that its family does not build (BERT-of-Theseus' ``scc_layer``); encoders
        add their optional heads.
        """
        family = next((k for k in type(self).__mro__ if k.__module__.startswith("bert4torch.models")
                       and k.__module__ != "bert4torch.models._trainable"), None)
        if family is None or family is type(self) or not issubclass(family, ModelBase):
            return set()
        try:
            with torch.device("meta"):
                own = set(family(self.config).state_dict())
        except Exception:  # noqa: BLE001 - a subclass whose config its family cannot build adds nothing we can name
            return set()
        return {name for name in self.state_dict() if name not in own}

    def expected_new_parameters(self) -> set[str]:
        """Parameters that a pretrained checkpoint cannot hold: initialised, never reported missing."""
        return {f"{name}.{leaf}" for name, module in self.named_modules()
                if isinstance(module, LayerNorm) and module.conditional_size
                for leaf in ("dense1.weight", "dense2.weight")}

    def tied_weights(self) -> dict[str, str]:
        """``{alias: owner}``: parameters that share the owner's tensor (families override)."""
        return {}

    def tie_weights(self) -> None:
        """Point every alias of :meth:`tied_weights` at its owner.

        After a checkpoint load, an alias that the checkpoint stored with values different from its owner stays
        untied (the original bert4torch did not tie MLM decoders, and its files say so by holding two matrices);
        an alias the checkpoint lacks (HF drops tied copies) gets the tie.
        """
        report = self.load_report
        for alias, owner in self.tied_weights().items():
            module_name, _, leaf = alias.rpartition(".")
            module, source = self.get_submodule(module_name), self.get_parameter(owner)
            current = getattr(module, leaf)
            if current is source or current.shape != source.shape:
                continue
            if (report is not None and alias in report.loaded and not current.is_meta and not source.is_meta
                    and not torch.equal(current, source)):
                continue
            setattr(module, leaf, source)

    def untie_weights(self) -> None:
        """Give every tied alias its own parameter (before loading, so both matrices load separately)."""
        for alias, owner in self.tied_weights().items():
            module_name, _, leaf = alias.rpartition(".")
            module, source = self.get_submodule(module_name), self.get_parameter(owner)
            if getattr(module, leaf) is source:
                copy = torch.empty_like(source) if source.is_meta else source.detach().clone()
                setattr(module, leaf, nn.Parameter(copy, requires_grad=source.requires_grad))

    def _tied_aliases(self) -> set[str]:
        """The aliases that share their owner's tensor right now."""
        return {alias for alias, owner in self.tied_weights().items()
                if self.get_parameter(alias) is self.get_parameter(owner)}

    # ------------------------------------------------------------------------------------------------ loader hooks
    def convert_checkpoint_tensors(self, items: Iterable[tuple[str, Tensor]]) -> Iterable[tuple[str, Tensor]]:
        """Format surgery on the ``(checkpoint key, tensor)`` stream before the map is applied (default: none)."""
        return items

    def restore_checkpoint_tensors(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Inverse of :meth:`convert_checkpoint_tensors`, applied when saving in the checkpoint layout."""
        return state

    def load_variable(self, name: str, tensor: Tensor) -> Tensor:
        """Adapt a checkpoint tensor to parameter ``name`` (default: unchanged)."""
        return tensor

    def checkpoint_map(self) -> WeightMap:
        """The weight map that names the checkpoint layout written by saving (default: ``weight_map``)."""
        return self.weight_map

    def _num_layers(self) -> int:
        """How many values the ``{}`` slot of the weight map takes: the deepest layer index of the model, plus one."""
        return 1 + max((template_key(name)[1] for name in self.state_dict()), default=-1)

    # ------------------------------------------------------------------------------------------------ I/O
    def load_weights(
        self,
        load_path: str | os.PathLike | Sequence[str | os.PathLike] | Mapping[str, Tensor],
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
                            ignore_invalid_weights=not strict or self.config.ignore_invalid_weights)

    def load_weights_from_pytorch_checkpoint(self, checkpoint: Any, mapping: Mapping[str, Any] | None = None
                                             ) -> LoadReport:
        """Load a checkpoint strictly (the original's method name). ``mapping`` overrides the family map."""
        return self.load_weights(checkpoint, mapping=mapping)

    def variable_mapping(self) -> dict[str, str]:
        """``{our parameter name: checkpoint key}``, derived from the family's weight map (the original's method)."""
        return invert_weight_map(self.checkpoint_map(), self._num_layers())

    def checkpoint_state(self) -> dict[str, Tensor]:
        """Our weights under the checkpoint's keys (the derived inverse map, then the inverse format surgery)."""
        inverse = self.variable_mapping()
        tied = self._tied_aliases()
        state: dict[str, Tensor] = {}
        for name, tensor in self.state_dict().items():
            if name not in tied:
                state.setdefault(inverse.get(name, name), tensor)
        return {key: value.contiguous() for key, value in self.restore_checkpoint_tensors(state).items()}

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

    def to_hf_config(self) -> dict[str, Any]:
        """The HF ``config.json`` keys of this model (families with a ``transformers`` class implement it)."""
        raise NotImplementedError(f"{type(self).__name__} has no transformers counterpart")

    def save_pretrained(self, save_path: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors``.

        Families with a ``transformers`` class (``hf_model_type`` set) write its layout, which ``from_pretrained``
        loads; the others write our config fields and parameter names, which
        ``build_transformer_model(config_path=folder, checkpoint_path=folder, model=...)`` loads.
        """
        folder = Path(save_path)
        folder.mkdir(parents=True, exist_ok=True)
        if self.hf_model_type is not None:
            config = {"architectures": [self.hf_architecture], "model_type": self.hf_model_type, **self.to_hf_config()}
            state = self.checkpoint_state()
        else:
            config = self.config.to_dict()
            tied = self._tied_aliases()
            state = {k: v.contiguous() for k, v in self.state_dict().items() if k not in tied}
        config = {k: v for k, v in config.items() if v is not None}
        try:
            text = json.dumps(config, indent=2, ensure_ascii=False)
        except TypeError as exc:
            raise ConfigError(f"{type(self).__name__}: an option is not json ({exc}); use save_weights") from exc
        (folder / "config.json").write_text(text)
        save_state_dict(state, folder / "model.safetensors")

    def predict(self, inputs: Any, return_all: int | None = None) -> Any:
        """Forward in eval mode without gradients, restoring the previous mode (the original's helper).

        Args:
            inputs: the list input (or a single tensor).
            return_all: when the output is a tuple/list, the index of the element to return (None: all).
        """
        output = run_eval(self, lambda: self(inputs))
        return output if return_all is None else output[return_all]

