"""Serve the hub under uvicorn with a Settings object, in one or several worker processes.

uvicorn's worker processes import the app by name and call a factory without
arguments, which is why settings used to travel through os.environ. Here the
uvicorn Config itself carries the Settings (it is pickled into each worker)
and builds the app from them, so nothing is written into the environment.
TLS: the settings' certificate and key go to uvicorn (ssl_certfile/keyfile).
"""

from __future__ import annotations

import functools
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from hub.service.settings import Settings


def _build(settings: Settings) -> Any:
    from hub.service.app import create_app

    return create_app(settings)


class HubConfig(uvicorn.Config):
    """A uvicorn Config whose app is `create_app(settings)`, in every worker."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        tls: dict[str, Any] = {}
        if settings.ssl_certfile is not None:
            tls = {"ssl_certfile": str(settings.ssl_certfile),
                   "ssl_keyfile": str(settings.ssl_keyfile)}
        super().__init__("hub.service.app:create_app", factory=True, **tls, **kwargs)
        self.hub_settings = settings

    def load_app(self) -> Any:
        return functools.partial(_build, self.hub_settings)


def serve(settings: Settings, host: str, port: int, workers: int = 1,
          log_level: str = "info") -> None:
    config = HubConfig(settings, host=host, port=port, workers=workers, log_level=log_level)
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
