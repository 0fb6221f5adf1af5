"""`corridor data rm` and `corridor admin gc-blobs` as users run them (a real subprocess)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import Cli, assert_one_error_line, cli, local  # noqa: F401 (fixtures)


def test_data_rm_asks_first_refuses_dependants_and_gc_reclaims_the_blob(
    local: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    with local.sdk() as c:
        c.create_project("shop")
    csv = tmp_path / "orders.csv"
    csv.write_text("id,amount\n1,10\n2,20\n")
    first = local.json("data", "ingest", str(csv), "orders", "-p", "shop")["version"]
    csv.write_text("id,amount\n3,30\n")
    local.ok("data", "ingest", str(csv), "orders", "-p", "shop", "-q")

    declined = local.run("data", "rm", "shop/orders@1", stdin="n\n")
    assert declined.returncode == 1
    assert "nothing deleted" in declined.stdout
    assert [d["versions"] for d in local.json("data", "ls", "-p", "shop")] == [2]

    out = local.json("data", "rm", "orders@1", "-p", "shop", "--yes")
    assert (out["versions"], out["dataset_deleted"]) == ([1], False)
    assert_one_error_line(local.run("data", "show", "shop/orders@1"), expect="it was deleted")
    assert_one_error_line(
        local.run("data", "rm", "shop/orders@latest", "--yes"), expect="by its number"
    )
    assert_one_error_line(local.run("data", "rm", "shop/a/b", "--yes"), expect="more than one")

    # Young blobs are kept; with no grace period the deleted version's own blob goes.
    kept = local.json("admin", "gc-blobs")
    assert (kept["deleted"], kept["recent"]) == (0, 1)
    dry = local.json("admin", "gc-blobs", "--grace-s", "0", "--dry-run")
    assert dry["deleted_digests"] == [first["digest"]]
    text = local.ok("admin", "gc-blobs", "--grace-s", "0")
    assert "deleted 1 (" in text
    assert "bytes freed" in text
    assert local.json("admin", "gc-blobs", "--grace-s", "0")["deleted"] == 0
    with local.sdk() as c:
        actions = [e.action for e in c.audit_events(limit=1000)]
    assert actions.count("blobs.gc") == 3  # four sweeps, but a dry run is not audited
    assert "data.delete" in actions

    gone = local.ok("data", "rm", "orders", "-p", "shop", "--yes")
    assert "deleted shop/orders version 2" in gone
    assert local.json("data", "ls", "-p", "shop") == []
    refused = local.run("admin", "gc-blobs", "--grace-s", "-5")
    assert refused.returncode == 2  # a usage error: nothing was opened
