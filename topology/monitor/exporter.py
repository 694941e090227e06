"""The Prometheus endpoint `topology exporter` serves (being written)."""

from __future__ import annotations

from topology.monitor.read import Reader

__all__ = ["serve"]


def serve(reader: Reader, listen: str, *, cache_seconds: float) -> None:
    """Serve /metrics on `listen` (HOST:PORT) until interrupted; one read per `cache_seconds`."""
    raise NotImplementedError
