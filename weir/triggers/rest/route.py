"""An aiohttp resource at the path of the current flow revision.

A reload may move the endpoint, but an aiohttp router is frozen once the app runs. This
resource reads the path when it matches, and is indexed under ``/`` so that the router asks it
about every path (after the more specific health endpoints, before the runner's catch-all 404).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from yarl import URL


class CurrentPathResource(web.Resource):
    def __init__(self, path: Callable[[], str]) -> None:
        super().__init__()
        self._path = path

    @property
    def canonical(self) -> str:
        return "/{current trigger path}"  # only "/" counts for the router's index

    def _match(self, path: str) -> dict[str, str] | None:
        return {} if self.raw_match(path) else None

    def raw_match(self, path: str) -> bool:
        return path == self._path()

    def get_info(self) -> dict[str, str]:  # type: ignore[override]
        return {"path": self._path()}

    def url_for(self) -> URL:  # type: ignore[override]
        return URL.build(path=self._path())

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError("the trigger's path is the flow's, not the app's to prefix")
