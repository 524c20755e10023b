"""Stand-in for ``torchinfo.summary``: prints the parameter count."""


def summary(model, *args, **kwargs):
    n = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: {n} parameters")
    return n
