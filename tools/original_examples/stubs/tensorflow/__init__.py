"""Stand-in for the one TensorFlow call the original's convert scripts make: ``tf.train.load_variable``.

A "TF checkpoint" here is the file ``<ckpt path>.standin.pt`` that the harness writes: a dict from TF variable
name to tensor, in TF's layout (kernels ``[in, out]``). Reading it gives what TF would give: a numpy array.
"""

from types import SimpleNamespace


def _load_variable(ckpt_path, name):
    import torch

    store = torch.load(str(ckpt_path) + ".standin.pt", weights_only=True)
    if name not in store:
        raise KeyError(f"tensor {name!r} not found in the stand-in checkpoint {ckpt_path}")
    return store[name].numpy()


train = SimpleNamespace(load_variable=_load_variable)
