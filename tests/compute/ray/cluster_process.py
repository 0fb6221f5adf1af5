"""A Ray test cluster in a process of its own, steered over stdin and stdout.

Run as ``python cluster_process.py SPEC_JSON``. It starts a head node and the named worker
nodes with ``ray.cluster_utils.Cluster``, prints one JSON line (the GCS address and each node's
id), then reads commands, one a line: ``remove NAME`` kills a node's processes as a lost machine
would, ``add NAME JSON`` starts another node; each is answered by one JSON line. When stdin
closes (the test session ended, or died) it shuts the cluster down and exits.

The cluster lives outside the test process so that the test process is only a Ray client, as
a Corridor server is: Ray reads its authentication mode once per process, and the nodes take
theirs (token mode, the token file) from this process's environment.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ray.cluster_utils import Cluster


def _node_args(spec: dict[str, Any], temp_dir: str) -> dict[str, Any]:
    return {
        "num_cpus": spec.get("num_cpus", 1),
        "num_gpus": spec.get("num_gpus", 0),
        "resources": spec.get("resources", {}),
        "object_store_memory": 80 * 1024 * 1024,
        "include_dashboard": False,
        "temp_dir": temp_dir,
    }


def main() -> int:
    spec = json.loads(sys.argv[1])
    temp_dir = os.path.join(os.environ["RAY_TMPDIR"], "ray")
    os.makedirs(temp_dir, exist_ok=True)
    cluster = Cluster(
        initialize_head=True,
        head_node_args=_node_args(spec.get("head", {"num_cpus": 0}), temp_dir),
        shutdown_at_exit=True,
    )
    try:
        nodes = {}
        for name, node_spec in spec.get("nodes", {}).items():
            nodes[name] = cluster.add_node(**_node_args(node_spec, temp_dir))
        cluster.wait_for_nodes()
        print(
            json.dumps(
                {"address": cluster.address, "nodes": {n: v.node_id for n, v in nodes.items()}}
            ),
            flush=True,
        )
        for line in sys.stdin:
            command, _, rest = line.strip().partition(" ")
            name, _, args = rest.partition(" ")
            if command == "remove" and name in nodes:
                cluster.remove_node(nodes.pop(name), allow_graceful=False)
                print(json.dumps({"removed": name}), flush=True)
            elif command == "add" and name not in nodes:
                nodes[name] = cluster.add_node(**_node_args(json.loads(args), temp_dir))
                print(json.dumps({"added": name, "node_id": nodes[name].node_id}), flush=True)
            else:
                print(json.dumps({"error": f"cannot {line.strip()!r}"}), flush=True)
    finally:
        cluster.shutdown()  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    sys.exit(main())
