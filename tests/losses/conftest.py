"""The losses-only env (``hatch run losses:test``) has no numpy, a dependency of neither torch nor b4t-losses.

torch warns once at import that it cannot initialise NumPy; under ``filterwarnings = error`` that warning would
stop collection, so torch is imported here first with that one warning ignored.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
    import torch  # noqa: F401
