"""Submitting jobs: what is stored, and every refusal naming its problem and storing nothing."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from corridor.data.sansio.sensitivity import Sensitivity
from tests.compute.core_world import ComputeWorld, cw, tarball

__all__ = ["cw"]


def test_submit_queues_the_job_and_the_project_lists_it(cw: ComputeWorld) -> None:
    reply = cw.submit(
        "alice", command=["echo", "hi"], cpus=2, memory="1G", env={"A": "1"}, name="hello"
    )
    assert reply.status_code == 201, reply.text
    job = reply.json()
    assert job["state"] == "queued"
    assert job["command"] == ["echo", "hi"]
    assert job["memory_bytes"] == 1 << 30
    assert job["env_names"] == ["A"]
    assert job["created_by"] == "alice"
    listed = cw.http.get("/api/v1/projects/p/jobs", headers=cw.auth("vic"))
    assert [j["id"] for j in listed.json()] == [job["id"]]
    got = cw.http.get(f"/api/v1/jobs/{job['id']}", headers=cw.auth("vic"))
    assert got.json()["name"] == "hello"


def test_listing_pages_with_a_token_newest_first(cw: ComputeWorld) -> None:
    ids = [cw.submit("alice").json()["id"] for _ in range(3)]
    first = cw.http.get("/api/v1/projects/p/jobs?limit=2", headers=cw.auth("alice"))
    token = first.headers["x-corridor-next-page-token"]
    second = cw.http.get(
        "/api/v1/projects/p/jobs",
        params={"limit": 2, "page_token": token},
        headers=cw.auth("alice"),
    )
    assert "x-corridor-next-page-token" not in second.headers
    seen = [j["id"] for j in first.json()] + [j["id"] for j in second.json()]
    assert sorted(seen) == sorted(ids)
    assert len(set(seen)) == 3


def test_a_batch_is_queued_whole_or_not_at_all(cw: ComputeWorld) -> None:
    good: dict[str, Any] = {"command": ["true"]}
    bad: dict[str, Any] = {"command": ["true"], "gpus": 64}
    before = cw.counts()
    refused = cw.http.post(
        "/api/v1/projects/p/jobs/batch", json={"jobs": [good, good, bad]}, headers=cw.auth("alice")
    )
    assert refused.status_code == 422
    assert "job 2:" in refused.json()["error"]["message"]
    assert cw.counts() == before
    accepted = cw.http.post(
        "/api/v1/projects/p/jobs/batch", json={"jobs": [good, good]}, headers=cw.auth("alice")
    )
    assert accepted.status_code == 201
    assert len(accepted.json()) == 2


def _future(hours: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)).isoformat()


REFUSALS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("too many gpus", {"gpus": 4}, ["4 GPUs", "the most any site has is 2", "eu"]),
    ("gpu type", {"gpus": 1, "gpu_type": "H100"}, ["H100"]),
    ("unknown site", {"site": "mars"}, ["unknown site 'mars'"]),
    ("past deadline", {"deadline": "2001-01-01T00:00:00Z"}, ["deadline", "past"]),
    ("deferrable without deadline", {"deferrable": True}, ["deadline"]),
    ("bad env name", {"env": {"1A": "x"}}, ["env name '1A'"]),
    ("reserved env name", {"env": {"CORRIDOR_TOKEN": "x"}}, ["CORRIDOR_TOKEN"]),
    ("bad memory", {"memory": "lots"}, ["memory 'lots'"]),
    ("bad timeout", {"timeout": "soon"}, ["timeout 'soon'"]),
    ("fractional gpus above one", {"gpus": 1.5}, ["1.5"]),
    ("site and objective", {"site": "eu", "objective": "cost"}, ["not both"]),
    ("command and function", {"function": {"module": "m", "qualname": "f"}}, ["exactly one"]),
    ("input for a command", {"input_b64": "AAAA"}, ["input_b64"]),
    ("unknown run", {"run_id": "0" * 32}, ["run"]),
    ("gang larger than any site", {"cpus": 4, "workers": 3}, ["3 workers"]),
    ("deadline shorter than timeout", {"deadline": _future(1), "timeout": "3h"}, ["timeout"]),
    ("unknown dataset", {"datasets": ["nothing@1"]}, ["nothing"]),
    ("snapshot not uploaded", {"snapshot": "a" * 64}, ["snapshot", "not uploaded"]),
]


@pytest.mark.parametrize(
    ("body", "words"), [(b, w) for _, b, w in REFUSALS], ids=[n for n, _, _ in REFUSALS]
)
def test_a_refused_submit_names_the_problem_and_stores_nothing(
    cw: ComputeWorld, body: dict[str, Any], words: list[str]
) -> None:
    before = cw.counts()
    reply = cw.submit("alice", **body)
    assert reply.status_code in (404, 422), reply.text
    message = reply.json()["error"]["message"]
    for word in words:
        assert word in message
    assert cw.counts() == before


def test_residency_refusal_names_the_dataset_and_its_regions(cw: ComputeWorld) -> None:
    ref = cw.ingest("p", "sales", regions=["ap-south"], sensitivity=Sensitivity.INTERNAL)
    before = cw.counts()
    reply = cw.submit("alice", datasets=[ref])
    assert reply.status_code == 422
    message = reply.json()["error"]["message"]
    assert "p/sales@1" in message
    assert "ap-south" in message
    assert cw.counts() == before
    # Pinned to a region a site is in: accepted, and only that region is allowed.
    eu = cw.ingest("p", "eu_sales", regions=["eu-west"], sensitivity=Sensitivity.INTERNAL)
    accepted = cw.submit("alice", datasets=[eu])
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["regions"] == ["eu-west"]


def test_restricted_data_is_refused_to_a_job_of_another_project(cw: ComputeWorld) -> None:
    ref = cw.ingest("p", "patients", regions=[], sensitivity=Sensitivity.RESTRICTED)
    with cw.runtime.db.write() as session:
        from corridor.security import projects
        from corridor.security.policy import Role

        projects.grant(session, cw.project("p"), "bob", Role.VIEWER)
    before = cw.counts()
    # Bob can read p, but a job of q may not consume p's restricted data.
    reply = cw.submit("bob", project="q", datasets=[f"p/{ref}"])
    assert reply.status_code == 403
    assert "restricted" in reply.json()["error"]["message"]
    assert cw.counts() == before
    # The same data for a job of its own project is fine.
    assert cw.submit("alice", datasets=[ref]).status_code == 201


def test_a_function_must_be_importable_from_its_snapshot(cw: ComputeWorld) -> None:
    digest, data = tarball({"pkg/__init__.py": b"", "pkg/work.py": b"def f(): return 1\n"})
    put = cw.http.put(
        f"/api/v1/snapshot-uploads/p/{digest}", content=data, headers=cw.auth("alice")
    )
    assert put.status_code == 201, put.text
    assert put.json()["modules"] == ["pkg", "pkg.work"]
    before = cw.counts()
    missing = cw.submit(
        "alice",
        command=None,
        function={"module": "pkg.missing", "qualname": "f"},
        snapshot=digest,
    )
    assert missing.status_code == 422
    assert "pkg.missing" in missing.json()["error"]["message"]
    assert cw.counts() == before
    payload = base64.b64encode(b"payload").decode()
    ok = cw.submit(
        "alice",
        command=None,
        function={"module": "pkg.work", "qualname": "f"},
        snapshot=digest,
        input_b64=payload,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["has_input"] is True


def test_a_snapshot_of_another_project_is_refused(cw: ComputeWorld) -> None:
    digest, data = tarball({"mod.py": b"x = 1\n"})
    put = cw.http.put(f"/api/v1/snapshot-uploads/q/{digest}", content=data, headers=cw.auth("bob"))
    assert put.status_code == 201
    before = cw.counts()
    reply = cw.submit(
        "alice", command=None, function={"module": "mod", "qualname": "x"}, snapshot=digest
    )
    assert reply.status_code == 422
    assert "not uploaded to project 'p'" in reply.json()["error"]["message"]
    assert cw.counts() == before


def test_a_snapshot_whose_body_is_not_its_digest_is_refused(cw: ComputeWorld) -> None:
    digest, data = tarball({"mod.py": b"x = 1\n"})
    wrong = "b" * 64
    reply = cw.http.put(
        f"/api/v1/snapshot-uploads/p/{wrong}", content=data, headers=cw.auth("alice")
    )
    assert reply.status_code == 422
    assert digest in reply.json()["error"]["message"]
    assert cw.counts()["compute_snapshots"] == 0
    head = cw.http.head(f"/api/v1/snapshot-uploads/p/{wrong}", headers=cw.auth("alice"))
    assert head.status_code == 404
    not_tar = b"not a tarball"
    import hashlib

    bad_digest = hashlib.sha256(not_tar).hexdigest()
    reply = cw.http.put(
        f"/api/v1/snapshot-uploads/p/{bad_digest}", content=not_tar, headers=cw.auth("alice")
    )
    assert reply.status_code == 422
    assert "tar.gz" in reply.json()["error"]["message"]


def test_a_viewer_cannot_submit_and_an_outsider_cannot_see_the_project(cw: ComputeWorld) -> None:
    assert cw.submit("vic").status_code == 403
    assert cw.submit("bob").status_code == 404
    job = cw.submit("alice").json()
    assert cw.http.get(f"/api/v1/jobs/{job['id']}", headers=cw.auth("bob")).status_code == 404


def test_lineage_links_the_data_a_job_reads_and_the_run_it_reports_to(cw: ComputeWorld) -> None:
    from corridor.tracking import experiments, runs

    ref = cw.ingest("p", "sales", regions=[], sensitivity=Sensitivity.INTERNAL)
    with cw.runtime.db.write() as session:
        exp = experiments.create_experiment(session, cw.project("p"), "e")
        run_id = runs.create_run(session, exp.experiment_id, user="alice").info.run_id
    job_id = cw.submit("alice", datasets=[ref], run_id=run_id).json()["id"]
    up = cw.http.get(
        "/api/v1/projects/p/lineage",
        params={"kind": "run", "id": run_id, "direction": "upstream", "depth": 3},
        headers=cw.auth("vic"),
    ).json()
    edges = {(e["src_kind"], e["dst_kind"]) for e in up["edges"]}
    assert edges == {("job", "run"), ("dataset_version", "job")}
    assert job_id in {n["id"] for n in up["nodes"]}


def test_a_site_sized_by_its_executor_is_judged_by_what_the_executor_reported() -> None:
    from corridor.compute.sansio.placement import QueuedJob, feasibility
    from corridor.compute.sansio.resources import NOTHING, Resources
    from corridor.compute.sites import Site
    from corridor.compute.submission import _known_capacity

    ray_site = Site(name="ray-a", executor="ray", region="eu-west")  # capacity: the cluster's
    job = QueuedJob(
        id="j", project="p", priority=0, submitted_at=0.0, resources=Resources(cpus=2, gpus=2)
    )

    def refusal(discovered: dict[str, Resources | None]) -> str | None:
        view = ray_site.view(0.0, NOTHING, discovered=_known_capacity(ray_site, discovered))
        return feasibility(job, [view], 0.0)

    # Before the scheduler has asked the cluster, its size is unknown: not refused.
    assert refusal({}) is None
    assert refusal({"ray-a": Resources(cpus=8, memory_bytes=1 << 34, gpus=4)}) is None
    reported = refusal({"ray-a": Resources(cpus=8, memory_bytes=1 << 34, gpus=1)})
    assert reported is not None
    assert "GPU" in reported
