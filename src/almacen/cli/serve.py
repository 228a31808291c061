"""`almacen serve`: the dashboard and API on 127.0.0.1:8000, over HTTPS when a certificate is set.

This is where the server meets the registry: the app serves the registered domains' pages, routes and
marts (`REGISTRY.site()`); `almacen.serve` itself imports no domain.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from almacen.config import ConfigError, load_config
from almacen.domains import REGISTRY
from almacen.terminal import ConfigOpt, console, friendly

if TYPE_CHECKING:
    from fastapi import FastAPI


@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default [serve] host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default [serve] port, 8000)")] = None,
    dev_tls: Annotated[
        bool, typer.Option("--dev-tls", help="HTTPS with a fresh self-signed certificate (trials only)")
    ] = False,
    workers: Annotated[int | None, typer.Option(help="server processes (default [serve] workers, 1)")] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the management dashboard and the JSON API (its OpenAPI document at /api/openapi.json)."""
    import uvicorn

    from almacen.serve import create_app, dev_certificate

    settings = load_config(config)
    host, port = host or settings.serve.host, port or settings.serve.port
    cert, key = settings.serve.certificate, settings.serve.key
    if dev_tls:
        cert, key = map(str, dev_certificate(Path(settings.lake) / "_system" / "tls", host))
    if bool(cert) != bool(key):
        raise ConfigError("[serve] certificate and key go together: set both, or neither")
    if not cert and host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"refusing to serve on {host} without TLS: set [serve] certificate and key (docs/security.md)"
        )
    tls, workers = bool(cert), workers or settings.serve.workers
    scheme = "https" if tls else "http"
    application: FastAPI | str
    factory: bool = False  # uvicorn's defaults: one process serving the app given
    processes: int | None = None
    if workers == 1:
        application = create_app(settings, site=REGISTRY.site(), tls=tls)
    else:  # each worker process builds its app from the environment: the same config and signing key
        os.environ["ALMACEN_CONFIG"] = str(Path(config or os.environ.get("ALMACEN_CONFIG", "almacen.toml")).resolve())
        os.environ["ALMACEN_SERVE_TLS"] = "1" if tls else "0"
        if settings.secret_key is None and settings.demo:
            os.environ["ALMACEN_SECRET_KEY"] = secrets.token_urlsafe(32)
        create_app(settings, site=REGISTRY.site(), tls=tls)  # fail here, once, on a bad config or a missing key
        application = "almacen.cli.serve:app_from_environment"
        factory, processes = True, workers
    console.print(
        f"almacen dashboard on {scheme}://{host}:{port}/  (API: {scheme}://{host}:{port}/api/openapi.json)"
        f"{f', {workers} processes' if workers > 1 else ''}",
        highlight=False,
    )
    uvicorn.run(
        application,
        host=host,
        port=port,
        ssl_certfile=cert or None,
        ssl_keyfile=key or None,
        log_level="warning",
        access_log=False,
        # the app decides whose X-Forwarded-For to believe ([serve] trusted_proxies); uvicorn's default
        # believes any local client, which lets it pick its own address
        proxy_headers=False,
        server_header=False,
        factory=factory,
        workers=processes,
    )


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker process (`almacen serve --workers N`) over the registered domains:
    config from ALMACEN_CONFIG, TLS from ALMACEN_SERVE_TLS; the CLI sets both, and one ALMACEN_SECRET_KEY
    for every worker."""
    from almacen.serve import create_app

    return create_app(load_config(), site=REGISTRY.site(), tls=os.environ.get("ALMACEN_SERVE_TLS") == "1")
