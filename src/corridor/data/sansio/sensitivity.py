"""Who may consume a dataset version: sensitivity classes, regions, gates and the masking rule.

Pure rules over plain values; the service gathers the facts and calls `check_consumption`
wherever data leaves the store (downloads, cleaning inputs, joined frames, copies, masking).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from corridor.errors import Conflict, InvalidInput, PermissionDenied

RESTRICTED_POLICY = "restricted-masked-outside-project"
"""The name users see when the masking rule refuses a read."""

_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_REGIONS = 64


class Sensitivity(StrEnum):
    """How sensitive a version's data is, least to most."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


DEFAULT_SENSITIVITY = Sensitivity.INTERNAL


def check_regions(regions: Iterable[str]) -> list[str]:
    """Sorted, unique region names (``eu-west-1``, ``onprem-paris``...); `InvalidInput` if bad."""
    found = sorted(set(regions))
    if len(found) > MAX_REGIONS:
        raise InvalidInput(f"at most {MAX_REGIONS} regions, got {len(found)}")
    for region in found:
        if not _REGION.fullmatch(region):
            raise InvalidInput(
                f"region {region!r} is invalid: use lowercase letters, digits and '-' "
                "(e.g. eu-west-1), at most 63 characters"
            )
    return found


@dataclass(frozen=True)
class VersionFacts:
    """What the consumption rules need to know about one version."""

    label: str  # "project/name@3", for messages
    project: str
    sensitivity: Sensitivity
    masked: bool
    gated: bool
    gate_passed: bool


def check_consumption(version: VersionFacts, consumer_project: str) -> None:
    """Refuse to hand ``version``'s data to work in ``consumer_project`` when a rule forbids it.

    A gated version that has not passed its gate suite is refused to everyone (`Conflict`); a
    restricted version that is not masked is refused to every other project (`PermissionDenied`
    naming the policy).
    """
    if version.gated and not version.gate_passed:
        raise Conflict(
            f"{version.label} is gated and has not passed its expectation suite: consumers "
            f"refuse it until it does (fix the data, or run `corridor data validate "
            f"{version.label}` once it is fixed)"
        )
    if (
        consumer_project != version.project
        and version.sensitivity is Sensitivity.RESTRICTED
        and not version.masked
    ):
        raise PermissionDenied(
            f"policy {RESTRICTED_POLICY!r}: {version.label} is restricted, and work outside "
            f"project {version.project!r} (here {consumer_project!r}) may read only a masked "
            f"version; make one with `corridor data pii {version.label} --mask PLAN.yaml`"
        )


def check_derived_class(
    chosen: Sensitivity, derived: Sensitivity, *, masked: bool, label: str
) -> None:
    """Refuse an unmasked output classed below what its inputs derive (`InvalidInput`).

    Otherwise a restricted version could be copied or cleaned as ``public`` and then read,
    unmasked, from any project.
    """
    order = list(Sensitivity)
    if masked or order.index(chosen) >= order.index(derived):
        return
    raise InvalidInput(
        f"{label}: the output may not be {chosen.value!r}: its inputs make it at least "
        f"{derived.value!r}, and only a masked output may be classed lower; leave the "
        f"sensitivity out, choose {derived.value!r} or above, or mask the data first"
    )
