"""Settings of `almacen serve`: where it listens, TLS, sessions and how fresh the marts are kept."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ServeSettings(BaseModel):
    """`[serve]` in almacen.toml; the session signing key comes from ALMACEN_SECRET_KEY, never the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="address to listen on; anything but loopback needs TLS")
    port: int = Field(default=8000, ge=1, le=65535)
    certificate: str = Field(
        default="", description="PEM certificate (chain) file; with `key`, the server speaks HTTPS"
    )
    key: str = Field(default="", description="PEM private key file of `certificate`")
    workers: int = Field(default=1, ge=1, le=64, description="server processes; each holds its own copy of the marts")
    session_hours: float = Field(
        default=8, gt=0, le=24 * 7, description="a login lasts this long, then the user logs in again"
    )
    refresh_seconds: float = Field(
        default=5, ge=0, description="how often the server looks for new versions of the gold marts"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of reverse "
        "proxies whose X-Forwarded-For is believed; empty: the peer's address is used",
    )
    token_days: int = Field(default=90, ge=1, le=3650, description="API tokens expire this many days after creation")
    language: str = Field(default="es", pattern="^(es|en)$", description="default page language (es or en)")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return value
