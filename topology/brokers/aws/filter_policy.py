"""SNS subscription filter policies as AWS documents them: what a policy may say (`policy_problems`, for
`validate`), whether a message matches it (`matches`, for `topology test`), and how an expectation's
attributes travel as typed SNS message attributes (`wire_attributes`, for `topology test --live`).

The rules come from the Amazon SNS developer guide (https://docs.aws.amazon.com/sns/latest/dg/):
string-value-matching.html, numeric-value-matching.html, attribute-key-matching.html,
and-or-logic.html, subscription-filter-policy-constraints.html and sns-message-attributes.html.
Where moto's server behaves otherwise, this module follows AWS (tests/brokers/test_filter_differential.py
lists each difference with its evidence).

A message is seen as its keys, each with the values it holds: a String or Number attribute holds one
value, a String.Array attribute each of its elements (any element matching is a match), a Binary
attribute is ignored (SNS does), and a JSON body is flattened to dotted paths (`{"a": {"b": 1}}` and
`{"a.b": 1}` both hold `a.b`), lists holding each of their elements.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

from topology.core.problems import PathPart, did_you_mean

if TYPE_CHECKING:
    from topology.core.resource import Resource
    from topology.format.check import Checker
    from topology.format.document import Publish
    from topology.format.load import LoadedFile

__all__ = ["MESSAGE_ATTRIBUTES", "MESSAGE_BODY", "PolicyProblem", "Value", "attribute_problems", "attributes_message",
           "body_message", "body_problems", "check_filter_policy", "check_message", "matches", "policy_problems",
           "wire_attributes"]

MESSAGE_ATTRIBUTES, MESSAGE_BODY = "MessageAttributes", "MessageBody"

# subscription-filter-policy-constraints.html ("Common policy constraints", "Wildcard pattern usage guidelines")
MAX_KEYS = 5
MAX_COMBINATIONS = 150
NUMBER_LIMIT = 10**9  # numeric matching covers -10^9 to 10^9 ...
DECIMALS = 5  # ... with five digits of accuracy after the decimal point
MAX_POLICY_BYTES = 256 * 1024
MAX_WILDCARDS = 3  # `*` in one pattern
MAX_WILDCARD_COMPLEXITY = 100

OPERATORS = ("anything-but", "cidr", "equals-ignore-case", "exists", "numeric", "prefix", "suffix", "wildcard")
_STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "wildcard")
_ANYTHING_BUT_PATTERNS = ("prefix", "suffix", "wildcard")  # string-value-matching.html, "Anything-but matching"
_COMPARISONS = ("=", "<", "<=", ">", ">=")
_STEP = Decimal(1).scaleb(-DECIMALS)
_WIDE = Context(prec=400)  # SNS Number attributes reach 10^126; rounding them to 5 decimals needs the room

Value = str | Decimal | bool | None  # one JSON scalar of a message; numbers as Decimal
Message = Mapping[str, tuple[Value, ...]]  # key (dotted path in a body) -> the values it holds; absent keys absent


@dataclass(frozen=True)
class PolicyProblem:
    path: tuple[PathPart, ...]  # inside the policy
    message: str
    hint: str | None = None
    warning: bool = False


# ------------------------------------------------------------------------------------------ validation

def policy_problems(policy: Mapping[str, Any], scope: str | None) -> list[PolicyProblem]:
    """Everything SNS would refuse in `policy` (and, as warnings, what it would silently read otherwise)."""
    problems: list[PolicyProblem] = []
    body = (scope or MESSAGE_ATTRIBUTES) == MESSAGE_BODY
    size = len(json.dumps(policy, default=str).encode())
    if size > MAX_POLICY_BYTES:
        problems.append(PolicyProblem((), f"the filter policy is {size:,} bytes of JSON; SNS allows at most 256 KB"))
    _check_object(policy, (), body, problems)
    if any(not p.warning for p in problems):
        return problems  # the limits below are counted on a policy of the right shape only
    combinations = _combinations(policy, 1)
    if combinations > MAX_COMBINATIONS:
        problems.append(PolicyProblem(
            (), f"the filter policy has {combinations} combinations of values; SNS allows at most {MAX_COMBINATIONS}",
            "SNS multiplies the number of values of each key (times its nesting level) and adds up the "
            "alternatives of `$or`; split the policy over several subscriptions"))
        return problems
    widest = max(_alternatives(policy, ()), key=len)
    if len(widest) > MAX_KEYS:
        names = ", ".join(f"`{'.'.join(path)}`" for path, _ in widest)
        problems.append(PolicyProblem(
            (), f"the filter policy matches {len(widest)} keys at once ({names}); SNS allows at most {MAX_KEYS}",
            "match fewer keys, or spread them over `$or` alternatives or several subscriptions"))
    complexity = _wildcard_complexity(policy)
    if complexity > MAX_WILDCARD_COMPLEXITY:
        problems.append(PolicyProblem(
            (), f"the filter policy's wildcard complexity is {complexity}; SNS allows at most "
            f"{MAX_WILDCARD_COMPLEXITY}", "use fewer patterns next to wildcards, or fewer `*`"))
    return problems


def _check_object(node: Mapping[str, Any], path: tuple[PathPart, ...], body: bool,
                  problems: list[PolicyProblem]) -> None:
    for key, value in node.items():
        where = (*path, key)
        if key == "$or" and _is_or(value):
            for index, option in enumerate(value):
                _check_object(option, (*where, index), body, problems)
        elif key == "$or" and _looks_like_or(value):
            problems.append(PolicyProblem(
                where, "`$or` needs a list of at least two alternatives, each an object of keys; SNS would read "
                "this one as an attribute named `$or`", "add another alternative, or move the one into the policy"))
        elif isinstance(value, dict):
            if not body:
                problems.append(PolicyProblem(
                    where, f"`{key}` holds keys, but only a filter policy on the message body can be nested",
                    "add `filter_policy_scope: MessageBody`, or list the values of a message attribute"))
            elif not value:
                problems.append(PolicyProblem(where, f"`{key}` holds no keys", "give it keys and values, or remove it"))
            else:
                _check_object(value, where, body, problems)
        elif isinstance(value, list):
            if not value:
                problems.append(PolicyProblem(where, f"`{key}` lists no values; SNS refuses an empty list",
                                              "list at least one value, or remove the key"))
            for index, rule in enumerate(value):
                _check_rule(rule, (*where, index), problems)
        else:
            problems.append(PolicyProblem(
                where, f"`{key}` must be a list of values" + (" or an object of keys" if body else ""),
                f"write `{key}: [{json.dumps(value, default=str)}]`"))


def _check_rule(rule: Any, where: tuple[PathPart, ...], problems: list[PolicyProblem]) -> None:
    if _is_scalar(rule):
        _check_number(rule, where, problems)
    elif isinstance(rule, dict):
        if len(rule) != 1:
            problems.append(PolicyProblem(
                where, f"a match holds exactly one operator; this one holds {len(rule)}"
                + (f" ({', '.join(f'`{k}`' for k in rule)})" if rule else ""),
                "give each operator its own list item: a key matches when any item does"))
            return
        [(operator, operand)] = rule.items()
        _check_operator(operator, operand, (*where, operator), problems)
    else:
        problems.append(PolicyProblem(
            where, "a value in a filter policy is a string, a number, true, false, null or an operator, not a list",
            "list the values one by one: a key matches when any of them does"))


def _check_operator(operator: str, operand: Any, where: tuple[PathPart, ...], problems: list[PolicyProblem]) -> None:
    if operator in _STRING_OPERATORS:
        if not isinstance(operand, str):
            problems.append(PolicyProblem(where, f"`{operator}` takes a string"))
        elif operator == "wildcard":
            _check_wildcard(operand, where, problems)
    elif operator == "cidr":
        message = _cidr_problem(operand)
        if message:
            problems.append(PolicyProblem(where, message, "write a network such as 10.0.0.0/24, or 10.0.0.7/32 for "
                                                          "one address"))
    elif operator == "numeric":
        _check_numeric(operand, where, problems)
    elif operator == "exists":
        if not isinstance(operand, bool):
            problems.append(PolicyProblem(where, "`exists` takes true or false"))
    elif operator == "anything-but":
        _check_anything_but(operand, where, problems)
    else:
        problems.append(PolicyProblem(where, f"`{operator}` is not an SNS filter operator",
                                      did_you_mean(operator, OPERATORS) or f"SNS knows {', '.join(OPERATORS)}"))


def _check_wildcard(pattern: str, where: tuple[PathPart, ...], problems: list[PolicyProblem]) -> None:
    stars = pattern.count("*")
    if stars > MAX_WILDCARDS:
        problems.append(PolicyProblem(
            where, f"a wildcard pattern holds at most {MAX_WILDCARDS} `*` in SNS; `{pattern}` holds {stars}"))


def _check_anything_but(operand: Any, where: tuple[PathPart, ...], problems: list[PolicyProblem]) -> None:
    if _is_scalar(operand):
        _check_number(operand, where, problems)
    elif isinstance(operand, list):
        if not operand:
            problems.append(PolicyProblem(where, "`anything-but` lists no values"))
        for index, value in enumerate(operand):
            if _is_scalar(value):
                _check_number(value, (*where, index), problems)
            else:
                problems.append(PolicyProblem((*where, index), "`anything-but` lists strings and numbers only"))
    elif isinstance(operand, dict) and len(operand) == 1 and next(iter(operand)) in _ANYTHING_BUT_PATTERNS:
        [(inner, pattern)] = operand.items()
        if not isinstance(pattern, str):
            problems.append(PolicyProblem((*where, inner), f"`{inner}` takes a string"))
        elif inner == "wildcard":
            _check_wildcard(pattern, (*where, inner), problems)
    else:
        problems.append(PolicyProblem(
            where, "`anything-but` takes a value, a list of values, or one of "
            + ", ".join(f"{{{p}: ...}}" for p in _ANYTHING_BUT_PATTERNS)))


def _check_numeric(operand: Any, where: tuple[PathPart, ...], problems: list[PolicyProblem]) -> None:
    hint = 'write a comparison such as [">", 0] or a range such as [">", 0, "<=", 150]'
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        problems.append(PolicyProblem(where, "`numeric` takes one comparison or one range", hint))
        return
    operators, numbers = operand[0::2], operand[1::2]
    well_formed = True
    for index, (operator, number) in enumerate(zip(operators, numbers, strict=True)):
        if operator not in _COMPARISONS:
            well_formed = False
            problems.append(PolicyProblem((*where, 2 * index), f"`{operator}` is not a comparison SNS knows "
                                          f"({', '.join(_COMPARISONS)})", hint))
        elif not _is_number(number):
            well_formed = False
            problems.append(PolicyProblem((*where, 2 * index + 1), f"`{operator}` compares with a number, "
                                          f"not {json.dumps(number, default=str)}", hint))
        else:
            _check_number(number, (*where, 2 * index + 1), problems)
    if len(operand) == 4 and well_formed:
        low_op, low, high_op, high = operand
        if low_op not in (">", ">=") or high_op not in ("<", "<="):
            problems.append(PolicyProblem(where, "a numeric range is a lower bound (> or >=) then an upper bound "
                                          "(< or <=)", hint))
        elif not low < high:
            problems.append(PolicyProblem(where, f"the range's lower bound {low} must be below its upper bound {high}"))


def _check_number(value: Any, where: tuple[PathPart, ...], problems: list[PolicyProblem]) -> None:
    if not _is_number(value):
        return
    if not _finite(value) or abs(value) > NUMBER_LIMIT:
        problems.append(PolicyProblem(where, "SNS matches numbers from -1,000,000,000 to 1,000,000,000; "
                                      f"{_shown_number(value)} is outside",
                                      "match it as a string in a String attribute"))
    elif _decimals(value) > DECIMALS:
        problems.append(PolicyProblem(where, f"SNS compares numbers to {DECIMALS} decimal places; {value} has more",
                                      f"round it to {DECIMALS} decimals", warning=True))


def _cidr_problem(operand: Any) -> str | None:
    if not isinstance(operand, str) or operand.count("/") != 1:
        return "`cidr` takes a network in CIDR notation, one address and a prefix length after one `/`"
    bits = operand.split("/")[1]
    if not bits.isdigit():
        return f"the prefix length of `{operand}` must be a whole number"
    try:
        ipaddress.ip_network(operand, strict=False)
    except ValueError:
        return f"`{operand}` is not an IPv4 or IPv6 network"
    return None


def _is_or(value: Any) -> bool:
    """and-or-logic.html: `$or` is the OR operator only for a list of at least two objects none of whose keys
    is an operator; otherwise it is an attribute named `$or`."""
    return (isinstance(value, list) and len(value) >= 2 and all(isinstance(o, dict) and o for o in value)
            and not any(key in OPERATORS for option in value for key in option))


def _looks_like_or(value: Any) -> bool:
    """Meant as `$or` (objects of keys that are not operators), yet not one SNS reads as such."""
    return (isinstance(value, list) and all(isinstance(o, dict) for o in value)
            and any(key not in OPERATORS for option in value for key in option))


def _combinations(node: Mapping[str, Any], depth: int) -> int:
    """subscription-filter-policy-constraints.html and and-or-logic.html: the product of each key's number of
    values times its nesting level, summed over the alternatives `$or` makes."""
    total = 1
    for key, value in node.items():
        if key == "$or" and _is_or(value):
            total *= sum(_combinations(option, depth) for option in value)
        elif isinstance(value, dict):
            total *= _combinations(value, depth + 1)
        else:
            total *= len(value) * depth
    return total


def _wildcard_complexity(node: Mapping[str, Any]) -> int:
    """subscription-filter-policy-constraints.html, "Wildcard pattern usage guidelines", counted only when the policy
    holds a wildcard: each key scores (the sum of its patterns' points) x (its number of patterns); a pattern with
    one `*` scores 1, with several 3, an anything-but 1. (The guide's "3 points each" is read as each such pattern.)"""
    fields = [rules for _, rules in _leaves(node, ())]
    if not any(_wildcard_stars(rule) for rules in fields for rule in rules):
        return 0
    return sum(sum(_pattern_points(rule) for rule in rules) * len(rules) for rules in fields)


def _wildcard_stars(rule: Any) -> int:
    if isinstance(rule, dict) and isinstance(rule.get("wildcard"), str):
        return int(rule["wildcard"].count("*"))
    inner = rule.get("anything-but") if isinstance(rule, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("wildcard"), str):
        return int(inner["wildcard"].count("*"))
    return 0


def _pattern_points(rule: Any) -> int:
    if isinstance(rule, dict) and "anything-but" in rule:
        return 1
    stars = _wildcard_stars(rule)
    return 0 if stars == 0 else 1 if stars == 1 else 3


def _leaves(node: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    for key, value in node.items():
        if key == "$or" and _is_or(value):
            for option in value:
                yield from _leaves(option, path)
        elif isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


def _alternatives(node: Mapping[str, Any], path: tuple[str, ...]) -> list[list[tuple[tuple[str, ...], list[Any]]]]:
    """The policy as the plain policies `$or` stands for, each its (path, rules) pairs: one must match whole."""
    alternatives: list[list[tuple[tuple[str, ...], list[Any]]]] = [[]]
    for key, value in node.items():
        if key == "$or" and _is_or(value):
            options = [each for option in value for each in _alternatives(option, path)]
        elif isinstance(value, dict):
            options = _alternatives(value, (*path, key))
        else:
            options = [[((*path, key), value)]]
        alternatives = [before + option for before in alternatives for option in options]
    return alternatives


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: int | float) -> bool:
    """A number that is neither infinite nor NaN (an int of any size is; math.isfinite cannot take one past a
    float's range)."""
    return isinstance(value, int) or math.isfinite(value)


def _decimals(value: int | float) -> int:
    exponent = Decimal(repr(value)).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


# ------------------------------------------------------------------------------------------- messages

def attribute_problems(attributes: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(attribute, problem, hint) for each expectation attribute SNS could not carry as a message attribute."""
    for name, value in attributes.items():
        named = _name_problem(name)
        if named:
            yield name, named, "rename the attribute"
            continue
        problem = _attribute_problem(value)
        if problem:
            yield name, problem, ("SNS message attributes are a string (String), a number (Number), a list of "
                                  "strings, numbers, true, false and null (String.Array) or !!binary (Binary)"
                                  if not isinstance(value, bool | str | bytes | int | float) else None)


# sns-message-attributes.html: "A number can have up to 38 digits of precision, and it can be between 10^-128
# and 10^+126. Leading and trailing zeroes are trimmed."
NUMBER_DIGITS, NUMBER_LARGEST, NUMBER_SMALLEST = 38, Decimal("1e126"), Decimal("1e-128")
# ... and a name holds A-Z, a-z, 0-9, `_`, `-` and `.`, does not start or end with a period nor hold two in a row,
# is at most 256 characters long, and does not start with `AWS.` or `Amazon.` (in any case).
_ATTRIBUTE_NAME = re.compile(r"(?!\.)(?!.*\.\.)(?!(?i:aws|amazon)\.)[A-Za-z0-9_.-]{1,256}(?<!\.)")


def _name_problem(name: Any) -> str | None:
    if isinstance(name, str) and _ATTRIBUTE_NAME.fullmatch(name):
        return None
    return (f"{json.dumps(name, default=str)[:80]} cannot name an SNS message attribute: a name is 1 to 256 of "
            "A-Z, a-z, 0-9, `_`, `-` and `.`, with no period first, last or twice in a row, and no AWS. or "
            "Amazon. prefix")


def _number_problem(value: int | float) -> str | None:
    if not _finite(value):
        return f"{value} is not a number SNS can carry"
    with localcontext(_WIDE):
        number = Decimal(repr(value) if isinstance(value, float) else value).normalize()
    digits = len(number.as_tuple().digits)
    if number and (digits > NUMBER_DIGITS or not NUMBER_SMALLEST <= abs(number) <= NUMBER_LARGEST):
        return (f"SNS carries a Number of up to {NUMBER_DIGITS} digits, between 10^-128 and 10^126 in size; "
                f"{_shown_number(value)} is not one")
    return None


def _shown_number(value: int | float) -> str:
    """A number for a message: as written, or in scientific notation when that is long."""
    text = repr(value)
    return text if len(text) <= 40 else f"{Decimal(value):.6e}"


def _attribute_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        spelled = json.dumps(value)
        return f"SNS has no boolean message attribute: write \"{spelled}\" (a String) or [{spelled}] (a String.Array)"
    if isinstance(value, str | bytes):
        return "an SNS message attribute cannot be empty" if not value else None
    if _is_number(value):
        return _number_problem(value)
    if isinstance(value, list):
        if not all(_is_scalar(v) and (not _is_number(v) or _finite(v)) for v in value):
            return "a String.Array holds strings, numbers, true, false and null only"
        return None
    return f"{json.dumps(value, default=str)} is not a value SNS can carry as a message attribute"


def body_problems(body: Mapping[str, Any]) -> str | None:
    """Why `body` is not plain JSON, or None."""
    try:
        json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"the message body must be plain JSON ({exc})"
    return None


def wire_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The SNS MessageAttributes that carry `attributes`: String, Number, String.Array (a JSON array) or Binary."""
    wire: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        problem = _attribute_problem(value)
        if problem:
            raise ValueError(f"attribute `{name}`: {problem}")
        if isinstance(value, bytes):
            wire[name] = {"DataType": "Binary", "BinaryValue": value}
        elif isinstance(value, str):
            wire[name] = {"DataType": "String", "StringValue": value}
        elif isinstance(value, list):
            wire[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        else:
            wire[name] = {"DataType": "Number", "StringValue": json.dumps(value)}
    return wire


def attributes_message(attributes: Mapping[str, Any]) -> dict[str, tuple[Value, ...]]:
    """What a filter policy sees of message attributes: String and Number hold one value, String.Array each
    element; Binary attributes are ignored (subscription-filter-policy-constraints.html)."""
    message: dict[str, tuple[Value, ...]] = {}
    for name, value in attributes.items():
        problem = _attribute_problem(value)
        if problem:
            raise ValueError(f"attribute `{name}`: {problem}")
        if isinstance(value, bytes):
            continue
        message[name] = tuple(_scalar(v) for v in value) if isinstance(value, list) else (_scalar(value),)
    return message


def body_message(body: Mapping[str, Any]) -> dict[str, tuple[Value, ...]]:
    """What a filter policy sees of a JSON body: each leaf by its dotted path, a list holding its elements."""
    message: dict[str, list[Value]] = {}
    _flatten(body, (), message)
    return {path: tuple(values) for path, values in message.items()}


def _flatten(node: Any, path: tuple[str, ...], into: dict[str, list[Value]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, (*path, str(key)), into)
    elif isinstance(node, list):
        for element in node:
            _flatten(element, path, into)
    elif path:
        into.setdefault(".".join(path), []).append(_scalar(node))


def _scalar(value: Any) -> Value:
    if value is None or isinstance(value, bool | str):
        return value
    if _is_number(value):
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return str(value)


# ----------------------------------------------------------------------------------------- evaluation

def matches(policy: Mapping[str, Any], message: Message) -> bool:
    """Whether `message` (attributes_message or body_message) passes `policy`: every key of one `$or`
    alternative matches, a key matching when any of its rules does."""
    return any(all(_key_matches(rules, message.get(".".join(path))) for path, rules in alternative)
               for alternative in _alternatives(policy, ()))


def _key_matches(rules: list[Any], values: tuple[Value, ...] | None) -> bool:
    # attribute-key-matching.html: "exists": true wants "a non-null and non-empty value"
    present = values is not None and any(value is not None for value in values)
    for rule in rules:
        if isinstance(rule, dict) and "exists" in rule:
            if bool(rule["exists"]) == present:
                return True
        elif values is not None and any(_value_matches(rule, value) for value in values):
            return True
    return False


def _value_matches(rule: Any, value: Value) -> bool:
    if not isinstance(rule, dict):
        return _equal(rule, value)
    [(operator, operand)] = rule.items()
    if operator == "anything-but":
        return not _excluded(operand, value)
    if operator == "numeric":
        return isinstance(value, Decimal) and _in_range(operand, value)
    if not isinstance(value, str):
        return False
    if operator == "prefix":
        return value.startswith(operand)
    if operator == "suffix":
        return value.endswith(operand)
    if operator == "equals-ignore-case":
        return value.lower() == str(operand).lower()
    if operator == "wildcard":
        return _wildcard_matches(operand, value)
    if operator == "cidr":
        return _in_network(operand, value)
    raise ValueError(f"`{operator}` is not an SNS filter operator")


def _excluded(operand: Any, value: Value) -> bool:
    if isinstance(operand, dict):
        return _value_matches(operand, value)
    if isinstance(operand, list):
        return any(_equal(each, value) for each in operand)
    return _equal(operand, value)


def _equal(literal: Any, value: Value) -> bool:
    """A policy value and a message value are equal when of one JSON type and equal: the string "100" is not
    the number 100; numbers are equal to 5 decimal places (subscription-filter-policy-constraints.html)."""
    if literal is None or isinstance(literal, bool):
        return value is literal
    if isinstance(literal, str):
        return isinstance(value, str) and value == literal
    return isinstance(value, Decimal) and _rounded(value) == _rounded(_scalar(literal))


def _in_range(conditions: list[Any], value: Decimal) -> bool:
    number = _rounded(value)
    if number is None:
        return False
    for operator, bound in zip(conditions[0::2], conditions[1::2], strict=True):
        limit = _rounded(_scalar(bound))
        if limit is None or not {"=": number == limit, "<": number < limit, "<=": number <= limit,
                                 ">": number > limit, ">=": number >= limit}[operator]:
            return False
    return True


def _rounded(value: Value) -> Decimal | None:
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    with localcontext(_WIDE):
        try:
            return value.quantize(_STEP)
        except InvalidOperation:
            return None


def _wildcard_matches(pattern: str, value: str) -> bool:
    """`*` matches any characters: the text between stars found leftmost in turn (which finds a match
    whenever there is one), in time about linear in the value, where a backtracking regular expression took
    the cube of it."""
    if "*" not in pattern:
        return value == pattern
    first, *middle, last = pattern.split("*")
    if len(value) < len(first) + len(last) or not value.startswith(first) or not value.endswith(last):
        return False
    position, end = len(first), len(value) - len(last)
    for part in middle:
        found = value.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _in_network(cidr: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------ `validate`

def check_filter_policy(checker: Checker, resource: Resource) -> None:
    """A subscription's filter policy, each problem located at its place in the policy."""
    policy = resource.attributes.get("FilterPolicy")
    if policy is None:
        return
    for problem in policy_problems(policy, resource.attributes.get("FilterPolicyScope")):
        checker.report(resource, problem.message, "filter_policy", *problem.path, hint=problem.hint,
                       warning=problem.warning)


def check_message(checker: Checker, loaded: LoadedFile, path: tuple[PathPart, ...], publish: Publish) -> None:
    """An expectation's SNS message: attributes SNS can carry, a body that is plain JSON."""
    for name, problem, hint in attribute_problems(publish.attributes):
        checker.report_at(loaded, (*path, "attributes", name), problem, hint)
    unreadable = body_problems(publish.body) if publish.body is not None else None
    if unreadable:
        checker.report_at(loaded, (*path, "body"), unreadable)
