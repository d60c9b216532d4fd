"""The scenario catalogue: named, documented configurations anyone can list, describe and run."""
from __future__ import annotations

from model.config import ConfigError, Scenario

TEXT_INTERRUPTION = Scenario(
    name="text-interruption",
    description=(
        "A 1,000-frame LLM-style text stream (50 frames/s, about 20 s) over an `unstable` network "
        "(2 % loss, lognormal jitter, a disconnect a minute on average: 28 % of streams are cut), "
        "resumed from the client's last frame out of a 100,000-byte ack-window replay buffer."
    ),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in [TEXT_INTERRUPTION]}


def get_scenario(name: str) -> Scenario:
    """The named scenario; an unknown name lists the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ConfigError("scenario", name, "one of " + ", ".join(sorted(SCENARIOS))) from None
