"""The demo's configuration: branches of a chain on SQLite files, in a folder of their own."""

from __future__ import annotations

from pathlib import Path

LOCAL_TIME_ZONE = "America/Argentina/Buenos_Aires"
"""the zone the demo's `tickets` branches write their timestamps in (the `ventas` ones write UTC)"""
BRANCHES = [
    ("palermo", "Palermo", "Ciudad Autónoma de Buenos Aires", "Ciudad Autónoma de Buenos Aires", "ventas"),
    ("cordoba_centro", "Córdoba Centro", "Córdoba", "Córdoba", "tickets"),
    ("rosario", "Rosario Centro", "Rosario", "Santa Fe", "ventas"),
    ("mendoza", "Mendoza", "Mendoza", "Mendoza", "tickets"),
    ("la_plata", "La Plata", "La Plata", "Buenos Aires", "ventas"),
    ("mar_del_plata", "Mar del Plata", "Mar del Plata", "Buenos Aires", "tickets"),
    ("tucuman", "San Miguel de Tucumán", "San Miguel de Tucumán", "Tucumán", "ventas"),
    ("salta", "Salta", "Salta", "Salta", "tickets"),
    ("neuquen", "Neuquén", "Neuquén", "Neuquén", "ventas"),
    ("bahia_blanca", "Bahía Blanca", "Bahía Blanca", "Buenos Aires", "tickets"),
]


def demo_config(folder: Path, branches: int = 5, local_time: bool = False) -> Path:
    """Write `folder/almacen.toml` for a chain of `branches` SQLite branches; returns its path.

    With `local_time`, the `tickets` branches keep the store's wall-clock time (`LOCAL_TIME_ZONE`), as
    real Argentine POS do; `almacen demo` runs so, and the tests' chains keep every POS on UTC unless
    they ask."""
    folder = Path(folder).resolve()
    (folder / "pos").mkdir(parents=True, exist_ok=True)
    chosen = BRANCHES[:branches] + [
        (f"sucursal_{i:02d}", f"Sucursal {i}", "Buenos Aires", "Buenos Aires", ("ventas", "tickets")[i % 2])
        for i in range(len(BRANCHES) + 1, branches + 1)
    ]
    lines = [
        "# Written by `almacen demo`: a simulated chain on SQLite files. See docs/configuration.md.",
        f'lake = "{folder / "lakehouse"}"',
        "demo = true",
        "",
        "[catalog]",
        f'url = "sqlite:///{folder / "pos" / "erp.sqlite"}"',
    ]
    for bid, name, city, province, schema in chosen:
        lines += [
            "",
            "[[branches]]",
            f'id = "{bid}"',
            f'name = "{name}"',
            f'city = "{city}"',
            f'province = "{province}"',
            f'url = "sqlite:///{folder / "pos" / (bid + ".sqlite")}"',
            f'pos_schema = "{schema}"',
        ]
        if local_time and schema == "tickets":
            lines.append(f'timezone = "{LOCAL_TIME_ZONE}"')
    lines += ["", "[stream]", f'landing = "{folder / "landing" / "sales_events"}"']
    lines += ["", "[messaging.stream]", f'landing = "{folder / "landing" / "message_events"}"']
    path = folder / "almacen.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
