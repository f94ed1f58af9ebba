"""Attack name -> attack class. A new attack is a new module with a class that has ``name``,
``check(ctx)`` (validate, raise before anything is written) and ``run(ctx) -> result``, plus one
line here. Results map variant -> side -> {per_item, aggregate} (see tru.attacks.base)."""

from __future__ import annotations

from tru.attacks.crosslingual import CrossLingual
from tru.attacks.jailbreak import Jailbreak
from tru.attacks.paraphrase import Paraphrase
from tru.attacks.quantize import Quantize
from tru.attacks.relearn import Relearn

ATTACKS = {cls.name: cls for cls in (CrossLingual, Paraphrase, Jailbreak, Relearn, Quantize)}
