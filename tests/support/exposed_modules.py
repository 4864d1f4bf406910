"""Test-only: a deliberately weakened policy that hands rules the real ``json`` module.

Imported into the zygote through ``WorkerConfig.preload`` (before ``sandbox.worker`` binds
``rule_globals``), it reopens the escape of reference rows 29-33:
``json.codecs.sys.modules['os']`` and ``json.codecs.builtins`` reach the interpreter past
RestrictedPython, so tests can prove that the OS layers alone contain real escapes. Never imported
by the product.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from sandbox import policy

_facade_rule_globals = policy.rule_globals


def _exposed_rule_globals(
    emit: Callable[[str], None], extra: dict[str, Any], rng: random.Random
) -> dict[str, Any]:
    namespace = _facade_rule_globals(emit, extra, rng)
    namespace["json"] = json  # the whole module, which the product never does
    return namespace


policy.rule_globals = _exposed_rule_globals
