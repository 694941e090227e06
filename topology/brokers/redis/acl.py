"""Redis ACL rules in Redis's own words: key and channel patterns, command rules, and what they allow.

Redis describes a user's rules in its own canonical words (ACL GETUSER): `+@read -@dangerous +xadd` comes
back as `-@all +@read -keys -sort_ro +xadd`, `%RW~k` as `~k`, `allkeys` as `~*`. Patterns are normalised
the same way on both sides (no broker needed); command rules are compared by what they allow, worked
out over the server's own command table (COMMAND: each command's and subcommand's ACL categories) the
way Redis applies them (acl.c, ACLSetSelector: a category or a container command sets its subcommands
too, a rule removing anything clears `allcommands`, `+cmd|arg` on a command without subcommands allows
that first argument only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CommandTable",
    "Permission",
    "channel_patterns",
    "command_rules",
    "key_patterns",
    "rule_problem",
    "selector_argument",
    "setuser_arguments",
    "user_attributes",
]

# A pattern holds any character but these (acl.c ACLStringHasSpaces: C's isspace, and NUL); ACL GETUSER
# separates patterns by one space, and `%r~` is `%R~` (the permission letters are read in any case).
_SPACE = " \t\n\v\f\r"
_KEY = re.compile(r"^(?:~|%(?P<flags>(?i:R|W|RW|WR))~)(?P<pattern>[^ \t\n\v\f\r\0]*)$")
_CHANNEL = re.compile(r"^&[^ \t\n\v\f\r\0]*$")


def _words(text: str) -> list[str]:
    """Patterns as ACL GETUSER lists them (a no-break space or a line separator is part of a pattern)."""
    return [word for word in re.split(f"[{_SPACE}]+", text) if word]


def key_patterns(tokens: Iterable[str]) -> list[str]:
    """Key patterns as Redis keeps them: `allkeys` is `~*` (and ends the list), `%RW~k` is `~k`, the
    permissions of one pattern written twice are joined; sorted, since their order allows nothing more."""
    flags: dict[str, set[str]] = {}
    for token in tokens:
        if token == "allkeys":
            flags = {"*": {"R", "W"}}
            continue
        match = _KEY.match(token)
        if match is None:
            continue  # rule_problem() says so; the file is not valid
        flags.setdefault(match["pattern"], set()).update((match["flags"] or "RW").upper())
    if flags.get("*") == {"R", "W"}:
        return ["~*"]
    return sorted(("~" if given == {"R", "W"} else f"%{''.join(sorted(given))}~") + pattern
                  for pattern, given in flags.items())


def channel_patterns(tokens: Iterable[str]) -> list[str]:
    """Channel patterns as Redis keeps them: `allchannels` is `&*` (and ends the list), each pattern once."""
    patterns: set[str] = set()
    for token in tokens:
        if token in ("allchannels", "&*"):
            return ["&*"]
        if token.startswith("&"):
            patterns.add(token)
    return sorted(patterns)


def command_rules(text: str) -> str:
    """Command rules with their spaces normalised (their case kept: Redis reads names in any case)."""
    return " ".join(text.split())


def rule_problem(kind: str, token: str, after_all: bool) -> str | None:
    """Why ACL SETUSER would refuse `token` as a `kind` rule (keys, channels, commands); None if it takes it.
    `after_all`: an earlier pattern was `*` (Redis refuses any pattern after it)."""
    if kind == "keys":
        if token != "allkeys" and not _KEY.match(token):
            return f"{token!r} is not a key pattern"
    elif kind == "channels":
        if token != "allchannels" and not _CHANNEL.match(token):
            return f"{token!r} is not a channel pattern"
    elif not (token in ("allcommands", "nocommands") or re.fullmatch(r"[+-]@?[^\s@|]+(\|[^\s|]+)?", token)):
        return f"{token!r} is not a command rule"
    elif token.startswith("-") and "|" in token and not token.startswith("-@"):
        return None  # `-config|get` is a subcommand; `-select|0` is refused by Redis itself, said at apply
    if kind in ("keys", "channels") and after_all:
        return f"{token!r} comes after the `*` pattern, which Redis refuses (it would have no effect)"
    return None


@dataclass(frozen=True)
class Permission:
    """What a rule list allows: commands and subcommands (`config|get`), and first arguments of commands
    not otherwise allowed (`select|0`)."""

    commands: frozenset[str]
    first_args: frozenset[str]


@dataclass(frozen=True)
class CommandTable:
    """The server's commands (subcommands as `container|sub`) with their ACL categories, from COMMAND."""

    categories: Mapping[str, frozenset[str]]
    subcommands: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_reply(cls, reply: Mapping[str, Mapping[str, Any]]) -> CommandTable:
        """From redis-py's parsed COMMAND reply."""
        categories: dict[str, frozenset[str]] = {}
        subcommands: dict[str, tuple[str, ...]] = {}
        for name, info in reply.items():
            categories[name.lower()] = frozenset(c.lstrip("@").lower() for c in info.get("acl_categories", ()))
            subs = []
            for sub in info.get("subcommands", ()) or ():
                sub_name, sub_categories = str(sub[0]).lower(), sub[6] if len(sub) > 6 else ()
                categories[sub_name] = frozenset(str(c).lstrip("@").lower() for c in sub_categories)
                subs.append(sub_name)
            subcommands[name.lower()] = tuple(subs)
        return cls(categories, subcommands)

    def allows(self, rules: str) -> Permission | None:
        """What `rules` allow when applied to a selector that allows nothing; None if a rule names a
        command or category this server does not know (Redis refuses it: apply says so)."""
        allowed: set[str] = set()
        first_args: set[str] = set()
        for token in rules.lower().split():
            if not self._apply(token, allowed, first_args):
                return None
        return Permission(frozenset(allowed), frozenset(a for a in first_args if a.split("|")[0] not in allowed))

    def _apply(self, token: str, allowed: set[str], first_args: set[str]) -> bool:
        if token in ("allcommands", "+@all"):
            allowed.update(self.categories)
            first_args.clear()
        elif token in ("nocommands", "-@all"):
            allowed.clear()
            first_args.clear()
        elif token[:2] in ("+@", "-@"):
            category = token[2:]
            members = [name for name, cats in self.categories.items() if category in cats]
            if not members:
                return False  # no such category
            for name in members:
                self._change(name, token[0] == "+", allowed, first_args)
        elif token[:1] in ("+", "-"):
            return self._command(token[0] == "+", token[1:], allowed, first_args)
        else:
            return False
        return True

    def _command(self, allow: bool, name: str, allowed: set[str], first_args: set[str]) -> bool:
        container, _, sub = name.partition("|")
        if name in self.categories:
            self._change(name, allow, allowed, first_args)
            return True
        if not allow or not sub or container not in self.categories or self.subcommands.get(container):
            return False  # unknown, `-select|0`, `+config|nosuch`
        first_args.add(name)  # `+select|0`: that first argument of a command without subcommands
        return True

    def _change(self, name: str, allow: bool, allowed: set[str], first_args: set[str]) -> None:
        """ACLChangeSelectorPerm: the command, and all its subcommands; its first-argument rules are reset."""
        for each in (name, *self.subcommands.get(name, ())):
            (allowed.add if allow else allowed.discard)(each)
        first_args.difference_update({a for a in first_args if a.split("|")[0] == name})


def user_attributes(reply: Mapping[str, Any]) -> dict[str, Any]:
    """A live user's attributes, from ACL GETUSER (the reply as a mapping of its fields)."""
    flags = [str(f) for f in reply.get("flags", [])]
    attributes: dict[str, Any] = {
        "enabled": "on" in flags, "nopass": "nopass" in flags,
        "keys": key_patterns(_words(str(reply.get("keys", "")))),
        "channels": channel_patterns(_words(str(reply.get("channels", "")))),
        "commands": command_rules(str(reply.get("commands", ""))),
        "selectors": [_selector(s) for s in reply.get("selectors", []) or []],
        "passwords": len(reply.get("passwords", []) or []),
    }
    if "sanitize-payload" in flags or "skip-sanitize-payload" in flags:
        attributes["sanitize_payload"] = "sanitize-payload" in flags
    return attributes


def _selector(reply: Any) -> dict[str, Any]:
    fields = reply if isinstance(reply, Mapping) else dict(zip(reply[::2], reply[1::2], strict=True))
    return {"keys": key_patterns(_words(str(fields.get("keys", "")))),
            "channels": channel_patterns(_words(str(fields.get("channels", "")))),
            "commands": command_rules(str(fields.get("commands", "")))}


def selector_argument(selector: Mapping[str, Any]) -> str:
    """One selector as ACL SETUSER takes it: `(~k resetchannels &c -@all +get)`, each pattern holding a quote
    or a backslash quoted, since Redis reads a selector's words as sdssplitargs does (`(~'q')` is the
    pattern `q`; an unclosed quote makes the selector empty, without an error)."""
    return "(" + " ".join([*map(_split_word, selector["keys"]), "resetchannels",
                           *map(_split_word, selector["channels"]), "-@all", *selector["commands"].split()]) + ")"


def _split_word(pattern: str) -> str:
    """`pattern` as sdssplitargs reads it back as itself."""
    if not any(c in pattern for c in "\"'\\"):
        return pattern
    return '"' + pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'


def setuser_arguments(attributes: Mapping[str, Any], passwords: Sequence[str] | None, *,
                      drop_nopass: bool = False) -> list[str]:
    """The ACL SETUSER rules that make a user exactly `attributes`, whatever it was (one atomic command).
    `passwords` None leaves its passwords alone (not managed), unless `drop_nopass`: the user has
    `nopass` now and must not, which only `resetpass` undoes (it removes the passwords too)."""
    rules = ["on" if attributes["enabled"] else "off"]
    if attributes["nopass"]:
        rules.append("nopass")
    elif passwords is not None:
        rules += ["resetpass", *(f">{p}" for p in passwords)]
    elif drop_nopass:
        rules.append("resetpass")
    rules += ["resetkeys", *attributes["keys"], "resetchannels", *attributes["channels"],
              "-@all", *attributes["commands"].split(), "clearselectors",
              *(selector_argument(s) for s in attributes["selectors"])]
    if "sanitize_payload" in attributes:
        rules.append("sanitize-payload" if attributes["sanitize_payload"] else "skip-sanitize-payload")
    return rules
