"""Build the spec a revision stores from what a caller asked for (deploy, scale). Reads only.

Every model reference is resolved (`corridor.serving.refs`) before anything is written, and the
result is validated as a whole `DeploymentSpec`, so a refused request writes nothing. Errors
name the field and what to send instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from corridor.errors import InvalidInput
from corridor.security.models import Project
from corridor.serving.refs import ResolvedVersion, resolve
from corridor.serving.schemas import DeployIn, ScaleIn
from corridor.serving.spec import Autoscaling, DeploymentSpec, Placement, Shadow, VersionRoute


def validated(values: dict[str, Any]) -> DeploymentSpec:
    """``DeploymentSpec(**values)``, its refusals as one `InvalidInput`."""
    try:
        return DeploymentSpec.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise InvalidInput(f"the deployment spec is refused: {problems}") from None


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _route(found: ResolvedVersion, weight: float) -> VersionRoute:
    return VersionRoute(model=found.model, version=found.version, weight=weight, ref=found.ref)


def _routes(
    session: Session, project: Project, body: DeployIn
) -> tuple[list[VersionRoute], list[ResolvedVersion]]:
    """The weighted routes ``body`` names, and every version it names (for lineage)."""
    if body.routes is not None:
        if body.model is not None or body.canary:
            raise InvalidInput("give either routes (with weights), or model and canary; not both")
        found = [(resolve(session, project, r.model), r.weight) for r in body.routes]
        return [_route(v, w) for v, w in found], [v for v, _ in found]
    if body.model is None:
        if body.canary:
            raise InvalidInput("a canary needs a primary model: give model as well")
        return [], []
    canary_share = sum(c.weight for c in body.canary)
    if body.canary and canary_share >= 100:
        raise InvalidInput(
            f"the canaries' weights add up to {canary_share:g}%; they must leave the primary "
            "model some traffic (under 100 in all)"
        )
    primary = resolve(session, project, body.model)
    canaries = [(resolve(session, project, c.model), c.weight) for c in body.canary]
    routes = [_route(primary, 100.0 - canary_share)] + [_route(v, w) for v, w in canaries]
    return routes, [primary] + [v for v, _ in canaries]


def spec_for_deploy(
    session: Session, project: Project, body: DeployIn
) -> tuple[DeploymentSpec, list[ResolvedVersion]]:
    """The spec ``body`` asks for, and the versions it serves or shadows."""
    if body.graph is not None and (body.model is not None or body.routes or body.canary):
        raise InvalidInput("a graph deployment names other deployments, not models: drop model")
    if body.graph is None and body.model is None and body.routes is None:
        raise InvalidInput("name a model to serve (model='mlp@production') or give a graph")
    routes, versions = _routes(session, project, body)
    values: dict[str, Any] = {
        "routes": [r.model_dump() for r in routes],
        "replicas": body.replicas,
        "sticky_header": body.sticky_header,
    }
    if body.shadow is not None:
        if body.graph is not None:
            raise InvalidInput("a graph deployment cannot shadow: shadow one of its members")
        found = resolve(session, project, body.shadow.model)
        values["shadow"] = Shadow(
            model=found.model, version=found.version, percent=body.shadow.percent, ref=found.ref
        ).model_dump()
        versions.append(found)
    placement = body.placement or Placement()
    if body.site is not None:
        placement = Placement(kind=placement.kind, site=body.site, resources=placement.resources)
    values["placement"] = placement.model_dump()
    for key in ("graph", "autoscaling", "batching", "sampling", "rate_limit"):
        given = getattr(body, key)
        if given is not None:
            values[key] = given.model_dump()
    if body.autoscaling is not None:
        # Start within the bounds: the autoscaler moves it from there.
        low, high = body.autoscaling.min_replicas, body.autoscaling.max_replicas
        values["replicas"] = max(low, min(body.replicas, high))
    return validated(values), versions


def spec_for_scale(spec: DeploymentSpec, body: ScaleIn) -> DeploymentSpec:
    """``spec`` with a fixed replica count, or with autoscaling bounds (kept otherwise)."""
    bounds = {
        k: v
        for k, v in (
            ("min_replicas", body.min_replicas),
            ("max_replicas", body.max_replicas),
            ("target_concurrency", body.target_concurrency),
        )
        if v is not None
    }
    if body.replicas is None and not bounds:
        raise InvalidInput("give replicas, or min_replicas / max_replicas / target_concurrency")
    autoscaling: Autoscaling | None = None
    if bounds:
        base = spec.autoscaling or Autoscaling(
            min_replicas=min(spec.replicas, 1), max_replicas=max(spec.replicas, 1)
        )
        merged = {**base.model_dump(), **bounds}
        if "max_replicas" not in bounds:
            merged["max_replicas"] = max(base.max_replicas, merged["min_replicas"], 1)
        if "min_replicas" not in bounds:
            merged["min_replicas"] = min(base.min_replicas, merged["max_replicas"])
        try:
            autoscaling = Autoscaling.model_validate(merged)
        except ValidationError as exc:
            raise InvalidInput(
                "the scaling bounds are refused: " + "; ".join(_problem(e) for e in exc.errors())
            ) from None
    replicas = body.replicas if body.replicas is not None else spec.replicas
    if autoscaling is not None:
        replicas = max(autoscaling.min_replicas, min(replicas, autoscaling.max_replicas))
    values = spec.model_dump()
    values["replicas"] = replicas
    values["autoscaling"] = None if autoscaling is None else autoscaling.model_dump()
    return validated(values)
