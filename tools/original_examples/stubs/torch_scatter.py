"""Stand-in for ``torch_scatter.scatter_max`` on torch's own ``scatter_reduce``."""

import torch


def scatter_max(src, index, dim=-1, out=None, dim_size=None, fill_value=None):
    dim = dim % src.dim()
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() else 0
    shape = list(src.shape)
    shape[dim] = dim_size
    # torch_scatter's broadcast: a 1-D index lines up with ``dim``; trailing axes are added, then expanded
    if index.dim() == 1:
        index = index.view([1] * dim + [-1] + [1] * (src.dim() - dim - 1))
    while index.dim() < src.dim():
        index = index.unsqueeze(-1)
    index = index.expand_as(src)
    init = torch.full(shape, float("-inf"), dtype=src.dtype, device=src.device)
    result = init.scatter_reduce(dim, index, src, reduce="amax", include_self=True)
    result = torch.where(torch.isinf(result), torch.zeros_like(result), result)
    return result, torch.zeros(shape, dtype=torch.long, device=src.device)
