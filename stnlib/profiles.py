"""Run profiles: ``"full"`` (the real experiment) and ``"quick"`` (seconds, for CI).

Every notebook has a papermill ``parameters`` cell with ``PROFILE = "full"`` and
knobs that default to ``None`` ("whatever the profile says"). The environment
variable ``STNLIB_PROFILE`` overrides the notebook's value, so ``nbval`` and CI can
re-run any notebook quickly without editing it::

    profile = resolve_profile(PROFILE)           # "quick" if STNLIB_PROFILE=quick
    EPOCHS = profile.choose(EPOCHS, quick=1, full=20)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["ENV_VAR", "PROFILES", "Profile", "resolve_profile"]

ENV_VAR = "STNLIB_PROFILE"
PROFILES: tuple[str, ...] = ("full", "quick")

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """A resolved profile. ``source`` says where the name came from (notebook or environment)."""

    name: str
    source: str

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def choose(self, value: T | None, *, quick: T, full: T) -> T:
        """``value`` if it was set explicitly (not ``None``), else this profile's default."""
        if value is not None:
            return value
        return quick if self.quick else full

    def __str__(self) -> str:
        return f"{self.name} (from {self.source})"


def _validate(name: object, where: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in PROFILES:
        raise ValueError(f"unknown profile {name!r} from {where}; expected one of {', '.join(PROFILES)}")
    return name.strip().lower()


def resolve_profile(notebook_value: str = "full") -> Profile:
    """The profile to run: ``$STNLIB_PROFILE`` if set (and non-empty), else ``notebook_value``.

    Raises ``ValueError`` for an unknown name from either place.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Profile(_validate(env, f"${ENV_VAR}"), f"${ENV_VAR}")
    return Profile(_validate(notebook_value, "the notebook's PROFILE parameter"), "PROFILE parameter")
