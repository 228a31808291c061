"""Run records and (later) metrics, anomaly detection and alerts."""

from almacen.monitor.runs import RUNS, RunRecord, read_runs, record_runs

__all__ = ["RUNS", "RunRecord", "read_runs", "record_runs"]
