"""What every benchmark measures of a contender: wall time and peak RSS of its whole process tree.

A contender runs in its own process so that its memory is its own (Spark's JVM included: it is a
child of the Python driver); its last stdout line is a JSON document merged into the result.

Peak RSS is each process's own high-water mark as the kernel keeps it, not a sample of the current
RSS (a sample every 20 ms misses a peak shorter than that): for a contender without children,
`ru_maxrss` from `wait4` (exact); in a tree (Python + Spark's JVM), each process's `VmHWM` from
/proc/<pid>/status, read every 20 ms while it runs (monotonic: a read misses at most the growth of
its last 20 ms). `peak_rss_mb` is then the largest sum of the high-water marks read in one sample:
at least the tree's RSS at every sample, and at most the sum of its processes' own peaks, where
the sampled sums of the current RSS used before missed what rose and fell between two samples.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time

import psutil


def vm_hwm_kb(pid: int) -> int | None:
    """A live process's resident-set high-water mark (VmHWM, kB), None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


class TreePeak:
    """The high-water marks of a process and of every descendant seen while it runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.kb: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.together = 0
        """the largest sum, over one sample, of the high-water marks read in it"""

    def sample(self) -> None:
        """Read VmHWM of the process and of its descendants now (call every 20 ms or so)."""
        try:
            tree = [psutil.Process(self.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.Error:
            return
        now = 0
        for p in tree:
            kb = vm_hwm_kb(p.pid)
            if kb is None:
                continue
            now += kb
            self.kb[p.pid] = max(self.kb.get(p.pid, 0), kb)
            try:  # the program it runs now (a shell script may exec java), by its executable
                self.names[p.pid] = os.path.basename(p.exe()) or p.name()
            except psutil.Error:
                self.names.setdefault(p.pid, "?")
        self.together = max(self.together, now)

    def wait(self, timeout: float | None = None) -> tuple[int, int] | None:
        """Reap the process (sampling until it exits): (exit code, its ru_maxrss kB); None on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status), usage.ru_maxrss  # kB on Linux
            if deadline is not None and time.monotonic() > deadline:
                return None
            self.sample()
            time.sleep(0.02)

    def result(self, maxrss_kb: int) -> dict:
        """`peak_rss_mb`: the largest sum of the processes' high-water marks read in one sample (with
        no children: the process's ru_maxrss, exact); `peak_rss_by_program`: per program (executable)
        of 10 MB and up, its processes and their high-water marks, the largest and the sum (forked
        workers count the pages they share once each, as RSS does)."""
        kb, together = dict(self.kb), self.together
        if set(kb) <= {self.pid}:
            kb[self.pid] = max(kb.get(self.pid, 0), maxrss_kb)
            together = kb[self.pid]
            self.names.setdefault(self.pid, "contender")
        by_name: dict[str, list[int]] = {}
        for pid, value in kb.items():
            by_name.setdefault(self.names[pid], []).append(value)
        return {
            "peak_rss_mb": round(together / 1024),
            "peak_rss_by_program": {
                name: {
                    "processes": len(values),
                    "largest_mb": round(max(values) / 1024),
                    "sum_mb": round(sum(values) / 1024),
                }
                for name, values in sorted(by_name.items())
                if max(values) >= 10 * 1024
            },
        }


def reap(proc: subprocess.Popen, peak: TreePeak, timeout: float | None = None) -> int:
    """Wait for `proc` through `peak` (its high-water marks kept), killing it after `timeout`; its ru_maxrss kB."""
    done = peak.wait(timeout)
    if done is None:
        proc.send_signal(signal.SIGKILL)
        done = peak.wait()
    proc.returncode = done[0]  # reaped here (wait4, for its rusage): Popen must not wait for it again
    return done[1]


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run `cmd`: wall seconds, the peak RSS of its process tree (high-water marks) and its JSON."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env={**os.environ, **(env or {})})
        peak = TreePeak(proc.pid)
        maxrss = reap(proc, peak)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): {stderr[-2000:]}")
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    result = json.loads(last) if last.startswith("{") else {}
    return {"wall_s": round(wall, 2), **peak.result(maxrss), **result}


def machine() -> dict:
    return {"cpus": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30)}
