"""How registry routes name models in paths, shared by the registry's routers.

A model name may hold ``/`` (``churn/fraud``), so the ``{name:model_name}`` path parameter
matches one or more segments, as few as possible: in ``/models/a/b/versions/3`` the name is
``a/b``. Names never have a ``versions``, ``aliases`` or ``tags`` segment
(`corridor.registry.validation`), so a path has exactly one meaning. Routes with longer
suffixes are declared first, and ``/models/{name}`` itself last.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from corridor.security.projects import qualified_name
from corridor.web.guard import Access


class ModelNameConvertor(Convertor[str]):
    regex = r"[^/]+(?:/[^/]+)*?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("model_name", ModelNameConvertor())

MODEL = "/projects/{project}/models/{name:model_name}"
VERSION = MODEL + "/versions/{version}"


def full_name(access: Access, name: str) -> str:
    """The server-wide name of model ``name`` addressed in the route's project."""
    return qualified_name(access.project_or_fail.name, name)
