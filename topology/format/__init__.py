"""The topology file format: read (bounded, sandboxed), assembled from every broker's sections, expanded
to resources and checked. Imports no broker folder: it reaches them through the registry."""
