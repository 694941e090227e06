"""The user-facing models of the topology file format, one module per broker."""

from topology.spec.document import Document

__all__ = ["Document"]
