"""Copy the original bert4torch's reference outputs into tests/assets/models (see tests/assets/models/README.md).

The fixtures were produced once by running the original library (0.6.2) on tiny random models; this repository
does not depend on that library, so they are copied, never regenerated here.

Usage: python tools/models_copy_fixtures.py [/work/shared/fixtures]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

NAMES = ("bert-lm", "bert-unilm", "uie")
FILES = ("bert4torch_config.json", "model.safetensors", "io.safetensors", "meta.json")


def main(source: str = "/work/shared/fixtures") -> None:
    target = Path(__file__).resolve().parents[1] / "tests" / "assets" / "models"
    for name in NAMES:
        (target / name).mkdir(parents=True, exist_ok=True)
        for file in FILES:
            dst = target / name / file
            shutil.copyfile(Path(source) / name / file, dst)
            dst.chmod(0o644)
            print(dst)


if __name__ == "__main__":
    main(*sys.argv[1:])
