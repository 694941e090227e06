"""Plan and apply: diff desired against live, order the changes, carry them out safely; export and
`topology test`. Imports no broker folder: it reaches them through the registry."""
