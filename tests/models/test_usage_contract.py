"""The documented modelling flow (usage doc §1) runs on our models: a BaseModel subclass holding a loaded BERT,
compiled and fitted with FGM adversarial training (which finds the word embedding by the name 'word_embeddings')."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.optim as optim
from torch.utils.data import DataLoader

pytest.importorskip("bert4torch.trainer")
tr = pytest.importorskip("transformers")

from bert4torch.models import BaseModel, build_transformer_model  # noqa: E402

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
            max_position_embeddings=64)


def test_documented_flow_trains(tmp_path):
    torch.manual_seed(0)
    tr.BertModel(tr.BertConfig(**TINY)).save_pretrained(str(tmp_path))
    config_path, checkpoint_path = tmp_path / "config.json", tmp_path / "model.safetensors"

    class Model(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.bert = build_transformer_model(config_path, checkpoint_path, with_pool=True)
            self.dropout = nn.Dropout(0.1)
            self.dense = nn.Linear(32, 2)

        def forward(self, token_ids, segment_ids):
            hidden_states, pooled_output = self.bert([token_ids, segment_ids])
            return self.dense(self.dropout(pooled_output))

    ids = torch.randint(1, 99, (16, 8))
    labels = (ids[:, 1] > 50).long()

    def collate_fn(batch):
        token_ids = torch.stack([b[0] for b in batch])
        return [token_ids, torch.zeros_like(token_ids)], torch.stack([b[1] for b in batch])

    loader = DataLoader(list(zip(ids, labels)), batch_size=4, collate_fn=collate_fn)
    model = Model()
    model.compile(loss=nn.CrossEntropyLoss(), optimizer=optim.Adam(model.parameters(), lr=1e-3))
    from bert4torch.trainer import AdversarialTraining

    before = model.bert.embeddings.word_embeddings.weight.detach().clone()
    model.fit(loader, epochs=1, steps_per_epoch=4, callbacks=[AdversarialTraining("fgm")], verbose=0)
    assert not torch.equal(before, model.bert.embeddings.word_embeddings.weight)
    assert model.predict([ids[:2], torch.zeros_like(ids[:2])]).shape == (2, 2)


def test_built_model_is_a_trainer_model_as_in_0_2_5(tmp_path):
    """v0.2.5 examples call compile/fit on build_transformer_model's result (e.g. UniLM seq2seq)."""
    from bert4torch.trainer import BaseModel as TrainerBaseModel

    torch.manual_seed(0)
    tr.BertForPreTraining(tr.BertConfig(**TINY)).save_pretrained(str(tmp_path))
    model = build_transformer_model(tmp_path / "config.json", tmp_path, application="unilm", with_mlm=True)
    assert isinstance(model, TrainerBaseModel)
    ids = torch.randint(1, 99, (8, 6))
    seg = torch.tensor([[0, 0, 0, 1, 1, 1]]).expand(8, 6)

    def collate_fn(batch):
        token_ids = torch.stack([b for b in batch])
        return [token_ids, seg[: len(batch)]], token_ids

    def loss(outputs, target):
        _, mlm = outputs
        return nn.functional.cross_entropy(mlm[:, :-1].reshape(-1, mlm.shape[-1]), target[:, 1:].reshape(-1))

    model.compile(loss=loss, optimizer=optim.Adam(model.parameters(), lr=1e-3))
    model.fit(DataLoader(list(ids), batch_size=4, collate_fn=collate_fn), epochs=1, steps_per_epoch=2, verbose=0)
    out = model.predict([ids[:2], seg[:2]])
    assert out[1].shape == (2, 6, 99)
    assert model(ids[:2], seg[:2])[1].shape == (2, 6, 99)  # unpacked arguments work too


def test_trainer_checkpointing_works_on_a_built_model(tmp_path):
    """Our methods must not shadow the trainer's private ones (the mixin puts the family class first)."""
    torch.manual_seed(0)
    model = build_transformer_model(**{k: v for k, v in TINY.items() if k != "max_position_embeddings"}, with_pool=True)
    trainer_names = {n for n in vars(__import__("bert4torch.trainer", fromlist=["BaseModel"]).BaseModel) if n.startswith("_")}
    ours = {n for klass in type(model).__mro__[1:] if klass.__module__.startswith("bert4torch.models") for n in vars(klass)}
    assert not (trainer_names & ours) - {"__init__", "__module__", "__doc__", "__annotations__", "forward", "__dict__",
                                          "__weakref__", "__qualname__", "__firstlineno__", "__static_attributes__",
                                          "__orig_bases__", "__parameters__", "__abstractmethods__", "_abc_impl"}
    ids = torch.randint(1, 99, (8, 6))
    loader = DataLoader(list(zip(ids, (ids[:, 0] > 50).long())), batch_size=4,
                        collate_fn=lambda b: ([torch.stack([x[0] for x in b]), torch.zeros(len(b), 6, dtype=torch.long)],
                                              torch.stack([x[1] for x in b])))
    model.compile(loss=lambda out, y: nn.functional.cross_entropy(out[1][:, :2], y), optimizer=optim.SGD(model.parameters(), lr=0.1))
    model.fit(loader, epochs=1, steps_per_epoch=2, verbose=0)
    if hasattr(model, "save_to_checkpoint"):
        model.save_to_checkpoint(tmp_path / "ckpt")
    assert model.predict([ids[:2], torch.zeros(2, 6, dtype=torch.long)], return_all=1).shape == (2, 32)
