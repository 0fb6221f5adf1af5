"""References to dataset versions as users write them: ``orders@3``, ``churn/orders@latest``.

A reference is ``[project/]name[@version]``: the project defaults to the one the caller acts in,
the version to ``latest`` (the highest number). Names follow `corridor.names.check_name`, so a
reference can never smuggle a path separator or a control character into a path or a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from corridor.client_input import in_int64
from corridor.errors import InvalidInput
from corridor.names import check_name

LATEST = "latest"


@dataclass(frozen=True)
class DatasetRef:
    """A dataset version by name; ``version`` None means the latest one."""

    name: str
    version: int | None = None
    project: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.project}/" if self.project else ""
        return f"{prefix}{self.name}@{LATEST if self.version is None else self.version}"

    def in_project(self, project: str) -> DatasetRef:
        """This reference with ``project`` filled in where it named none."""
        return self if self.project else DatasetRef(self.name, self.version, project)


def parse_version(text: str | int) -> int | None:
    """``3`` or ``"3"`` → 3, ``"latest"`` → None; anything else is `InvalidInput`."""
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    else:
        value = str(text).strip()
        if value.lower() == LATEST:
            return None
        if not value.isdigit() or len(value) > 12:
            raise InvalidInput(
                f"dataset version {value!r} is neither a positive number nor {LATEST!r}"
            )
        number = int(value)
    if number < 1:
        raise InvalidInput(f"dataset versions start at 1, got {number}")
    if not in_int64(number):
        raise InvalidInput(f"dataset version {number} is out of range")
    return number


def parse_ref(text: str) -> DatasetRef:
    """Read ``[project/]name[@version]``; raise `InvalidInput` saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("a dataset reference must not be empty: write name@3 or name@latest")
    body, at, version_text = text.strip().partition("@")
    if at and not version_text:
        raise InvalidInput(f"dataset reference {text!r} ends with '@': add a version or 'latest'")
    if "@" in version_text:
        raise InvalidInput(f"dataset reference {text!r} has more than one '@'")
    project, slash, name = body.rpartition("/")
    if slash and ("/" in project or "\\" in project or "\\" in name):
        raise InvalidInput(
            f"dataset reference {text!r} has more than one '/': write project/name@version"
        )
    if slash:
        check_name("project", project)
    check_name("dataset", name)
    version = parse_version(version_text) if at else None
    return DatasetRef(name=name, version=version, project=project or None)
