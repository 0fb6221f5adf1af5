"""The dataset versions a function job's arguments name (``DatasetInput``): found, to declare
them with the job (residency and lineage apply), and replaced by the worker with the tables it
read. Pure: the loading is the caller's ``load``."""

from __future__ import annotations

from collections.abc import Callable

from corridor.compute.sansio.payload import Call, DatasetInput, MapChunk


def dataset_refs(value: object) -> list[str]:
    """The dataset references of every ``DatasetInput`` in ``value``, in order, without repeats."""
    refs: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, DatasetInput):
            if item.ref not in refs:
                refs.append(item.ref)
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, Call):
            stack.extend([item.kwargs, item.args])
        elif isinstance(item, MapChunk):
            stack.append(item.items)
    return refs


def replace_datasets(value: object, load: Callable[[str], object]) -> object:
    """``value`` with every ``DatasetInput`` replaced by ``load(ref)`` (the worker's reader)."""
    if isinstance(value, DatasetInput):
        return load(value.ref)
    if isinstance(value, tuple):
        return tuple(replace_datasets(v, load) for v in value)
    if isinstance(value, list):
        return [replace_datasets(v, load) for v in value]
    if isinstance(value, dict):
        return {k: replace_datasets(v, load) for k, v in value.items()}
    if isinstance(value, Call):
        args = replace_datasets(value.args, load)
        kwargs = replace_datasets(value.kwargs, load)
        assert isinstance(args, tuple)
        assert isinstance(kwargs, dict)
        return Call(args, kwargs)
    if isinstance(value, MapChunk):
        items = replace_datasets(value.items, load)
        assert isinstance(items, list)
        return MapChunk(items, value.first_index)
    return value
