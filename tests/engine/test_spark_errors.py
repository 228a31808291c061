"""engine = "spark" on a machine that lacks a part of Spark: one line saying what to install or run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from almacen.simulate import demo_config

CLI = "from almacen.cli import app; app()"


def _spark_config(tmp_path: Path, jars: Path) -> Path:
    cfg = demo_config(tmp_path, branches=1)
    cfg.write_text(f'engine = "spark"\n{cfg.read_text()}\n[spark]\njars = "{jars}"\n', encoding="utf-8")
    return cfg


def _build(cfg: Path, prelude: str = "") -> subprocess.CompletedProcess:
    """`almacen build` in a fresh process (this one may already hold a Spark session)."""
    return subprocess.run(
        [sys.executable, "-c", prelude + CLI, "build", "-c", str(cfg)], capture_output=True, text=True
    )


def test_spark_engine_without_pyspark_says_what_to_install(tmp_path: Path):
    cfg = _spark_config(tmp_path, tmp_path / "jars")
    result = _build(cfg, prelude="import sys; sys.modules['pyspark'] = None; ")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ['error: engine = "spark" needs PySpark: pip install "almacen[spark]"']


def test_spark_engine_without_its_jars_names_the_folder_and_the_script(tmp_path: Path):
    (tmp_path / "jars").mkdir()
    cfg = _spark_config(tmp_path, tmp_path / "jars")
    result = _build(cfg)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: Spark's connector jars are missing from {tmp_path / 'jars'}: run scripts/spark/jars "
        '(or set spark.jars = "" when the cluster provides Delta, Kafka and JDBC jars)'
    ]
