"""Test-only: imported into the zygote via WorkerConfig.preload, makes seccomp report missing.

Used to prove that required layers are enforced; never imported by the product.
"""

from __future__ import annotations

from sandbox import harden


def _missing(self: harden.Hardener, limits: harden.Limits) -> str:
    return "missing: disabled by a test"


harden.Hardener.load_seccomp = _missing  # type: ignore[method-assign]
