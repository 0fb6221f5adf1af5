"""Where Corridor finds a Ray cluster's token, and how it hands it to Ray (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.compute import ray_auth
from corridor.compute.sites import Site
from corridor.errors import ConfigurationError


def ray_site(token_file: Path | None = None) -> Site:
    return Site(name="gpu-eu", executor="ray", address="10.0.0.5:6380", auth_token_file=token_file)


def test_the_sites_token_file_comes_before_rays_own_places(tmp_path: Path) -> None:
    (tmp_path / "site-token").write_text("from-the-site\n")
    env = {"RAY_AUTH_TOKEN": "from-the-env"}
    token = ray_auth.find_token(ray_site(tmp_path / "site-token"), env, tmp_path)
    assert token is not None
    assert token.value == "from-the-site"
    assert token.path == tmp_path / "site-token"
    assert "auth_token_file" in token.source


def test_without_a_site_file_rays_order_holds(tmp_path: Path) -> None:
    path_file = tmp_path / "path-token"
    path_file.write_text("from-the-path")
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home")
    both = {"RAY_AUTH_TOKEN": "from-the-env", "RAY_AUTH_TOKEN_PATH": str(path_file)}

    def found(env: dict[str, str]) -> str | None:
        token = ray_auth.find_token(ray_site(), env, tmp_path)
        return None if token is None else token.value

    assert found(both) == "from-the-env"
    assert found({"RAY_AUTH_TOKEN_PATH": str(path_file)}) == "from-the-path"
    assert found({}) == "from-home"
    (tmp_path / ".ray" / "auth_token").unlink()
    assert found({}) is None


def test_an_empty_or_missing_token_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ConfigurationError, match=r"site 'gpu-eu'.*is empty"):
        ray_auth.find_token(ray_site(tmp_path / "empty"), {}, tmp_path)
    with pytest.raises(ConfigurationError, match="cannot read the Ray token file"):
        ray_auth.find_token(ray_site(tmp_path / "absent"), {}, tmp_path)


def test_a_token_from_a_file_reaches_ray_by_its_path_never_its_value(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("secret-value")
    token = ray_auth.find_token(ray_site(tmp_path / "t"), {}, tmp_path)
    env = {"RAY_AUTH_TOKEN": "stale"}
    ray_auth.apply_driver_env(ray_auth.ClusterAccess("h:1", token), env)
    assert env == {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "t")}
    assert "secret-value" not in repr(token)


def test_joining_an_open_cluster_turns_token_mode_off(tmp_path: Path) -> None:
    env = {"RAY_AUTH_MODE": "token"}
    ray_auth.apply_driver_env(ray_auth.ClusterAccess("h:1", None), env)
    assert env == {}


def test_a_ray_site_without_an_address_is_refused() -> None:
    site = Site(name="nowhere", executor="ray")
    with pytest.raises(ConfigurationError, match="site 'nowhere': a Ray site needs an address"):
        ray_auth.check_cluster(site, environ={})
