"""One rank of a sharded encode under torchrun (gloo, CPU): encode_file writes this rank's shard, rank 0 merges.

Launched by tests/encode/test_sharded.py with ``torchrun --standalone --nproc_per_node=2 shard_worker.py --folder F
--lines L --out O``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_support"))
from b4t_testing.trainer import shutdown_distributed  # noqa: E402
from bert4torch.models import SentenceEncoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", required=True)
    parser.add_argument("--lines", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group(backend="gloo")
    encoder = SentenceEncoder(args.folder, window=5, max_batch_tokens=40)
    written = encoder.encode_file(args.lines, args.out)
    assert written == Path(args.out), written
    shutdown_distributed()


if __name__ == "__main__":
    main()
