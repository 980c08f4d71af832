"""Score settings: which variant, direction and probe kind a table is computed with.

- ``original-code``: what the authors' notebooks computed for Tables 2 and 3:
  penalised argmax (``variant="original"``), one direction (row net -> column net),
  on the original probes (test images; uniform noise for Fashion-MNIST);
- ``paper-text``: the definition printed in the paper: argmax then penalty
  (``variant="paper"``), the symmetric average of both directions, on real test images.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from xcorr_lib.common.checks import check_option
from xcorr_lib.common.paper import ORIGINAL_PROBE
from xcorr_lib.data.probes import PROBE_KINDS
from xcorr_lib.score.engine import DIRECTIONS, VARIANTS

__all__ = ["DEFAULT_SETTINGS", "ORIGINAL_PROBE", "ScoreSetting", "resolve_settings"]

DEFAULT_SETTINGS: dict[str, dict[str, str]] = {
    "original-code": {"variant": "original", "direction": "forward", "probe": "original"},
    "paper-text": {"variant": "paper", "direction": "both", "probe": "test"},
}


@dataclasses.dataclass(frozen=True)
class ScoreSetting:
    """One way of computing the score: variant, direction and probe kind.

    ``probe`` is "test", "noise" or "original" (= :data:`ORIGINAL_PROBE` of the dataset).
    """

    name: str
    variant: str
    direction: str
    probe: str

    def probe_kind(self, dataset: str, original_probe: Mapping[str, str] = ORIGINAL_PROBE) -> str:
        """The concrete probe kind ("test" or "noise") for ``dataset``."""
        if self.probe != "original":
            return self.probe
        if dataset not in original_probe:
            raise ValueError(f"no original probe kind known for {dataset!r}; "
                             f"known: {sorted(original_probe)}")
        return original_probe[dataset]


def resolve_settings(settings: Mapping[str, Mapping[str, str]]) -> list[ScoreSetting]:
    """Validate a {name: {variant, direction, probe}} mapping (a notebook parameter)."""
    out = []
    for name, s in settings.items():
        missing = {"variant", "direction", "probe"} - set(s)
        if missing:
            raise ValueError(f"setting {name!r} lacks {sorted(missing)}")
        check_option(f"variant of setting {name!r}", s["variant"], VARIANTS)
        check_option(f"direction of setting {name!r}", s["direction"], DIRECTIONS)
        check_option(f"probe of setting {name!r}", s["probe"], (*PROBE_KINDS, "original"))
        out.append(ScoreSetting(name, s["variant"], s["direction"], s["probe"]))
    if not out:
        raise ValueError("at least one score setting is needed")
    return out
