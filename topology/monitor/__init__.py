"""Watching what the files declare: `status` (health against limits), `alerts` (Prometheus rules) and
`exporter` (a Prometheus endpoint), all from core/monitor.py's watches and the drivers' `health`."""
