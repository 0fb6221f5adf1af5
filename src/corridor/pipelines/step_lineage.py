"""Lineage of step runs: the jobs that ran them, and the dataset versions, model versions and
tracking runs their inputs and outputs name.

The driver names things as it saw them (``["dataset_version", "sales@3"]``,
``["model_version", "churn@2"]``, ``["run", "<id>"]``); they are resolved here within the run's
own project, and anything that does not resolve there is ignored, so a step cannot link (or
learn about) another project's data through lineage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from corridor.errors import CorridorError
from corridor.lineage.graph import Node, NodeKind, add_edge
from corridor.security.models import Project


def step_node(step_run_id: str) -> Node:
    return Node(NodeKind.STEP_RUN, step_run_id)


def _dataset_version(session: Session, project: Project, text: str) -> str | None:
    from corridor.data import datasets
    from corridor.data.sansio.refs import parse_ref

    ref = parse_ref(text)
    if ref.project is not None and ref.project != project.name:
        return None
    dataset = datasets.find_dataset(session, project, ref.name)
    if dataset is None:
        return None
    return datasets.get_version(session, dataset, ref.version).id


def _model_version(session: Session, project: Project, text: str) -> str | None:
    from corridor.registry import lookup

    name, _, version = text.rpartition("@")
    model = lookup.model_row(session, name, project_id=project.id)
    return lookup.version_row(session, model, version).id


def _run(session: Session, project: Project, run_id: str) -> str | None:
    from corridor.tracking import runs

    return run_id if runs.project_of_run(session, run_id) == project.name else None


_RESOLVERS = {
    "dataset_version": (NodeKind.DATASET_VERSION, _dataset_version),
    "model_version": (NodeKind.MODEL_VERSION, _model_version),
    "run": (NodeKind.RUN, _run),
}


def resolve(session: Session, project: Project, refs: Iterable[Sequence[str]]) -> list[Node]:
    """The lineage nodes ``refs`` name within ``project``; unknown ones are left out."""
    nodes: list[Node] = []
    for ref in refs:
        if len(ref) != 2 or ref[0] not in _RESOLVERS:
            continue
        kind, find = _RESOLVERS[ref[0]]
        try:
            found = find(session, project, str(ref[1]))
        except CorridorError:
            found = None
        if found is not None and Node(kind, found) not in nodes:
            nodes.append(Node(kind, found))
    return nodes


def link_inputs(session: Session, step_run_id: str, sources: Iterable[Node]) -> None:
    for source in sources:
        add_edge(session, source, step_node(step_run_id))


def link_outputs(session: Session, step_run_id: str, made: Iterable[Node]) -> None:
    for target in made:
        add_edge(session, step_node(step_run_id), target)


def link_job(session: Session, step_run_id: str, job_id: str) -> None:
    add_edge(session, Node(NodeKind.JOB, job_id), step_node(step_run_id))
