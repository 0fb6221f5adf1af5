"""Delete dataset versions and whole datasets, refusing to break what depends on them.

- A version goes with its reports, in the caller's one write transaction, with an audit event.
  Its number is never given again (the dataset keeps its counter), so ``orders@3`` never names
  other bytes, and ``orders@latest`` resolves to the highest version left.
- A dataset goes by deleting all its versions. Its row stays, hidden, as the keeper of the
  counter: reading it is `NotFound`, and ingesting under the name again continues the numbers.
- What depends on a version refuses its delete (`Conflict`, naming the dependants) unless it
  is forced: versions derived from it, whatever lineage says was made from it (runs, model
  versions...), and the dataset's gate when the version is the last one carrying it.
- A forced delete keeps every lineage edge of the deleted versions, as tombstones: the
  dependants' history still says what they were made from. An unforced one, which nothing
  depends on, takes its edges with it.
- The data blob stays: blobs are shared by content, and the blob sweep reclaims it once nothing
  references it (``corridor admin gc-blobs``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from corridor import lineage
from corridor.data import datasets as ds
from corridor.data.delete_schemas import DeletedOut
from corridor.data.models import Dataset, DatasetReport, DatasetVersion
from corridor.errors import Conflict, NotFound
from corridor.lineage.names import node_names
from corridor.lineage.visibility import lineage_visibility
from corridor.names import check_name
from corridor.security import audit
from corridor.security.models import Project
from corridor.security.policy import Principal
from corridor.security.projects import readable_project_ids

SHOWN_DEPENDANTS = 10


def _locked_dataset(session: Session, project: Project, name: str) -> Dataset:
    """The dataset, locked so that no version is added while this delete decides."""
    check_name("dataset", name)
    query = select(Dataset).where(Dataset.project_id == project.id, Dataset.name == name)
    dataset = session.scalar(query.with_for_update())
    if dataset is None or not session.scalar(select(ds.has_versions(dataset.id))):
        raise NotFound(f"dataset {project.name}/{name} not found")
    return dataset


def delete_version(
    session: Session,
    project: Project,
    name: str,
    number: int,
    *,
    force: bool,
    by: Principal,
    request_id: str = "",
) -> DeletedOut:
    """Delete version ``number`` of ``project``/``name``; see the module's rules."""
    dataset = _locked_dataset(session, project, name)
    version = ds.get_version(session, dataset, number)
    gate = _gate_dependant(session, dataset, version)
    target = f"{project.name}/{dataset.name}@{version.version}"
    return _delete(session, project, dataset, [version], target, gate, force, by, request_id)


def delete_dataset(
    session: Session,
    project: Project,
    name: str,
    *,
    force: bool,
    by: Principal,
    request_id: str = "",
) -> DeletedOut:
    """Delete every version of ``project``/``name``; see the module's rules."""
    dataset = _locked_dataset(session, project, name)
    versions = list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset.id)
            .order_by(DatasetVersion.version)
        )
    )
    target = f"{project.name}/{dataset.name}"
    return _delete(session, project, dataset, versions, target, None, force, by, request_id)


def _delete(
    session: Session,
    project: Project,
    dataset: Dataset,
    doomed: Sequence[DatasetVersion],
    target: str,
    gate: str | None,
    force: bool,
    by: Principal,
    request_id: str,
) -> DeletedOut:
    whole = _is_all(session, dataset, doomed)
    ids = {v.id for v in doomed}
    dependants = dependants_of(session, ids, by) + ([gate] if gate else [])
    if dependants and not force:
        raise Conflict(_refusal(target, dependants))
    nodes = [lineage.Node(lineage.NodeKind.DATASET_VERSION, i) for i in sorted(ids)]
    if not dependants:
        for node in nodes:
            lineage.remove_node(session, node)
    for part in _chunks(sorted(ids)):
        session.execute(delete(DatasetReport).where(DatasetReport.version_id.in_(part)))
        session.execute(delete(DatasetVersion).where(DatasetVersion.id.in_(part)))
    out = DeletedOut(
        project=project.name,
        dataset=dataset.name,
        versions=sorted(v.version for v in doomed),
        forced=bool(dependants),
        dependants=dependants,
        dataset_deleted=whole,
    )
    entry = audit.AuditEntry(
        actor=by.name,
        action="data.delete",
        target=target,
        outcome="ok",
        request_id=request_id,
        detail={**out.model_dump(), "digests": sorted({v.digest for v in doomed})},
    )
    audit.append_in(session, entry)
    return out


def _is_all(session: Session, dataset: Dataset, doomed: Sequence[DatasetVersion]) -> bool:
    count = session.scalar(
        select(func.count())
        .select_from(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id)
    )
    return int(count or 0) <= len(doomed)


def _refusal(target: str, dependants: Sequence[str]) -> str:
    shown = ", ".join(dependants[:SHOWN_DEPENDANTS])
    more = len(dependants) - SHOWN_DEPENDANTS
    if more > 0:
        shown += f" and {more} more"
    return (
        f"{target} cannot be deleted: {shown} depend on it. Delete those first, or force the "
        "delete (force=true, --force); lineage then keeps the deleted version's id"
    )


def _gate_dependant(session: Session, dataset: Dataset, version: DatasetVersion) -> str | None:
    """The dataset's gate, if deleting ``version`` would leave new versions ungated.

    New versions inherit the gate of the latest one; deleting the last version of a dataset
    ends the dataset, gate and all, so that counts as no dependant.
    """
    if version.gate_digest is None:
        return None
    latest = ds.latest_version(session, dataset)
    if latest is None or latest.id != version.id:
        return None
    after = session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id, DatasetVersion.id != version.id)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )
    if after is None or after.gate_digest == version.gate_digest:
        return None
    return f"the gate of dataset {dataset.name} (new versions would no longer be validated)"


def dependants_of(session: Session, ids: Collection[str], by: Principal) -> list[str]:
    """Labels of what was made from the versions ``ids``, other than those versions."""
    found: set[lineage.Node] = set()
    for part in _chunks(sorted(ids)):
        children = session.scalars(
            select(DatasetVersion.id).where(DatasetVersion.parent_id.in_(part))
        )
        found.update(lineage.Node(lineage.NodeKind.DATASET_VERSION, c) for c in children)
    for version_id in sorted(ids):
        root = lineage.Node(lineage.NodeKind.DATASET_VERSION, version_id)
        found.update(n for n in lineage.downstream(session, root, depth=1).nodes if n != root)
    outside = {n for n in found if not (n.kind is lineage.NodeKind.DATASET_VERSION and n.id in ids)}
    return _labels(session, outside, by)


def _labels(session: Session, nodes: Collection[lineage.Node], by: Principal) -> list[str]:
    """How people know each node; another project's things are named only to its readers."""
    readable = readable_project_ids(session, by)

    def visible(project_id: str) -> bool:
        return readable is None or project_id in readable

    kinds = lineage.NodeKind
    shown_nodes = lineage_visibility(session, by)(nodes)
    # Named by their slices (the registry names model versions) through lineage.
    names = node_names(session, nodes)
    labels: list[str] = []
    for node in sorted(nodes):
        if node.kind is kinds.DATASET_VERSION:
            try:
                other = ds.resolve_by_id(session, node.id)
            except NotFound:
                continue  # deleted itself already: a tombstone depends on nothing
            shown = visible(other.project.id)
            labels.append(other.label if shown else "a dataset version in another project")
        elif node.kind is kinds.MODEL_VERSION:
            if node not in names:
                continue  # deleted meanwhile: the registry removes its edges as it goes
            shown = node in shown_nodes
            labels.append(names[node] if shown else "a model version in another project")
        elif node in shown_nodes:
            labels.append(f"{node.kind.value.replace('_', ' ')} {node.id}")
        else:
            labels.append(f"a {node.kind.value.replace('_', ' ')} in another project")
    return labels


def _chunks(items: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
