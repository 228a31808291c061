"""`almacen serve`: the dashboard and API on 127.0.0.1:8000, over HTTPS when a certificate is set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from almacen.cli.main import ConfigOpt, app, console, friendly
from almacen.config import load_config


@app.command()
@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default [serve] host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default [serve] port, 8000)")] = None,
    dev_tls: Annotated[bool, typer.Option("--dev-tls", help="HTTPS with a fresh self-signed certificate (trials only)")] = False,
    config: ConfigOpt = None,
) -> None:
    """Serve the management dashboard and the JSON API (docs at /api/docs)."""
    import uvicorn

    from almacen.serve import create_app, dev_certificate

    settings = load_config(config)
    host, port = host or settings.serve.host, port or settings.serve.port
    cert, key = settings.serve.certificate, settings.serve.key
    if dev_tls:
        cert, key = map(str, dev_certificate(Path(settings.lake) / "_system" / "tls", host))
    if bool(cert) != bool(key):
        raise ValueError("[serve] certificate and key go together: set both, or neither")
    if not cert and host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"refusing to serve on {host} without TLS: set [serve] certificate and key (docs/security.md)")
    tls = bool(cert)
    application = create_app(settings, tls=tls)
    scheme = "https" if tls else "http"
    console.print(f"almacen dashboard on {scheme}://{host}:{port}/  (API docs: {scheme}://{host}:{port}/api/docs)",
                  highlight=False)
    uvicorn.run(application, host=host, port=port, ssl_certfile=cert or None, ssl_keyfile=key or None,
                log_level="warning", access_log=False)
