"""Demo lakes: written with public keys, marked as such in the lake, and refused outside demo mode.

`almacen demo` (and any pipeline run with `demo = true` and no `ALMACEN_PSEUDONYM_KEY`) pseudonymises
with a key printed in the source code: anyone can re-identify its customer keys. Such a lake carries
the file `_system/DEMO`; serving or publishing it with `demo = false` is refused, so a demo lake
cannot silently go into use.
"""

from __future__ import annotations

from pathlib import Path

from almacen.clock import utc_now
from almacen.config import Settings
from almacen.config.settings import DEMO_PSEUDONYM_KEY
from almacen.errors import AlmacenError
from almacen.lake import Lake

MARK = "DEMO"
"""the marker file in the lake's `_system/` folder"""


class DemoLake(AlmacenError, RuntimeError):
    """A lake written with demo mode's public keys was asked to serve or publish outside demo mode."""


def _mark_path(lake: Lake) -> str:
    return lake.path("_system.x").rsplit("/", 1)[0] + "/" + MARK


def mark_demo_lake(lake: Lake) -> None:
    """Write the demo marker (once; keeps the first date)."""
    if is_demo_lake(lake):
        return
    text = f"written with almacen's public demo keys on {utc_now():%Y-%m-%dT%H:%M:%SZ}\n"
    if "://" in lake.root:
        from pyarrow import fs as pafs

        filesystem, path = pafs.FileSystem.from_uri(_mark_path(lake))
        with filesystem.open_output_stream(path) as out:
            out.write(text.encode())
        return
    path = Path(_mark_path(lake))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def is_demo_lake(lake: Lake) -> bool:
    """Whether the lake carries the demo marker."""
    if "://" in lake.root:
        from pyarrow import fs as pafs

        filesystem, path = pafs.FileSystem.from_uri(_mark_path(lake))
        return filesystem.get_file_info(path).type != pafs.FileType.NotFound
    return Path(_mark_path(lake)).is_file()


def pseudonym_key(settings: Settings) -> bytes:
    """The pseudonymisation key for a pipeline writing `settings.lake`; marks the lake when it is the public one."""
    key = settings.key()
    if key == DEMO_PSEUDONYM_KEY:
        mark_demo_lake(Lake(settings.lake))
    return key


def refuse_demo_lake(settings: Settings, what: str) -> None:
    """Raise DemoLake when a marked lake is about to be served or published outside demo mode."""
    lake = Lake(settings.lake)
    if not settings.demo and is_demo_lake(lake):
        raise DemoLake(
            f"{what}: {lake.root} is a demo lake (written with almacen's public demo keys, see "
            f"{_mark_path(lake)}); refusing outside demo mode. Rebuild it with ALMACEN_PSEUDONYM_KEY set, "
            "or set demo = true to look at it"
        )
