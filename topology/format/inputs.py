"""What the command line reads besides the topology files' text: directories of topology files, and
`--var-file` files of variables.

A directory means the topology files directly in it (`*.topology.yaml` and `*.topology.yml`, sorted
by name, not its subdirectories): one topology. That is also what the pre-commit hook validates for
each file it is given (`validate --whole-topology`): the topology the file belongs to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from topology.core.problems import Problem
from topology.errors import InputError
from topology.format.load import FILE_LIMIT, Positions
from topology.format.load import _parse_yaml as parse_yaml

__all__ = ["SUFFIXES", "expand_directories", "read_var_file", "topologies_of"]

SUFFIXES = (".topology.yaml", ".topology.yml")


def _is_topology_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def _listed(directory: Path) -> list[str]:
    """The topology files directly in `directory`, sorted by name; none when it cannot be read."""
    try:
        return [str(directory / p.name) for p in sorted(directory.iterdir()) if _is_topology_file(p) and p.is_file()]
    except OSError:
        return []


def _directory_files(directory: Path, shown: str) -> list[str]:
    found = _listed(directory)
    if not found:
        raise InputError(f"the directory {shown} holds no *.topology.yaml or *.topology.yml file; "
                         "give the topology files, or the directory that holds them")
    return found


def expand_directories(paths: list[str]) -> list[str]:
    """`paths` with each directory replaced by the topology files in it, each file once, in order."""
    files: list[str] = []
    for path in paths:
        candidate = Path(path)
        files.extend(_directory_files(candidate, path) if candidate.is_dir() else [path])
    return _once(files)


def topologies_of(paths: list[str]) -> list[tuple[str, list[str]]]:
    """The whole topologies `paths` belong to: (directory, its topology files) for each directory that
    holds one of the files (or is one of `paths`), in the order they were first named.

    A file that is not named like a topology file is kept in its directory's topology all the same."""
    groups: dict[Path, tuple[str, list[str]]] = {}
    for path in paths:
        candidate = Path(path)
        named_directory = candidate.is_dir()
        directory = candidate if named_directory else candidate.parent
        key = directory.resolve()
        if key not in groups:
            groups[key] = (str(directory), _directory_files(directory, path) if named_directory else _listed(directory))
        if not named_directory:
            groups[key][1].append(path)
    return [(shown, _once(files)) for shown, files in groups.values()]


def _once(files: list[str]) -> list[str]:
    """Each file once (the same file named twice, or a directory's file also named on its own)."""
    seen: set[Path] = set()
    kept: list[str] = []
    for file in files:
        key = Path(file).resolve()
        if key not in seen:
            seen.add(key)
            kept.append(file)
    return kept


def read_var_file(path: str) -> dict[str, Any]:
    """The variables in a `--var-file`: a YAML mapping of names to values (an empty file sets none)."""
    where = f"--var-file {path}"
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(FILE_LIMIT + 1)
    except FileNotFoundError:
        raise InputError(f"{where}: file not found; check the path") from None
    except IsADirectoryError:
        raise InputError(f"{where} is a directory; give a YAML file of NAME: VALUE lines") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > FILE_LIMIT:
        raise InputError(f"{where} is over the {FILE_LIMIT // (1024 * 1024)} MiB limit of a file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 text; save it as UTF-8") from None
    problems: list[Problem] = []
    data = parse_yaml(text, path, Positions(path), problems)
    if problems:
        raise InputError(f"{problems[0]}" if problems[0].location else f"{where}: {problems[0]}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{where} holds {_kind(data)}, not a mapping of variable names to values; "
                         "write one NAME: VALUE line per variable")
    if any(not str(key).strip() for key in data):
        raise InputError(f"{where} has a variable with an empty name; write one NAME: VALUE line per variable")
    return dict(data)


def _kind(data: Any) -> str:
    if isinstance(data, list):
        return "a list"
    if isinstance(data, str):
        return "a string"
    return f"a {type(data).__name__}"
