"""What every benchmark measures of a contender: wall time and peak RSS of its whole process tree.

A contender runs in its own process so that its memory is its own (Spark's JVM included: it is a
child of the Python driver); its last stdout line is a JSON document merged into the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import psutil


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd`, sampling the RSS of it and its children every 20 ms; wall seconds, peak MB and its JSON."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - t
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): {err[-2000:]}")
    last = out.strip().splitlines()[-1] if out.strip() else ""
    result = json.loads(last) if last.startswith("{") else {}
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak / 2**20), **result}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30)}
