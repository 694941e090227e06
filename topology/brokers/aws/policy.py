"""Access policies (SQS queue `Policy`, SNS topic `Policy`) as data: one canonical form to compare them
in, and which SNS topics a queue's policy already lets send to it.

Canonical form: IAM reads a policy the same whatever the order of its statements and of the values
in a list, whether a single value is written alone or as a list of one, and takes a missing `Version`
as "2008-10-17" and a bare account id as a principal as that account's root ARN (which is how SQS and
SNS store it). Declared and live policies are both brought to this form, so that only a change of
meaning is a change.

Grants: the AWS documentation's SNS fan-out statement (any Sid) lets a topic send to a queue; so does
any statement that allows `sqs:SendMessage` (or `sqs:*`, `sqs:Send*`, `*`) on the queue (its ARN, a
pattern matching it, or `*`) to SNS (`{"Service": "sns.amazonaws.com"}`, `"*"`, `{"AWS": "*"}`) under
conditions naming the topic (`ArnEquals`/`ArnLike`/`StringEquals`/`StringLike` on `aws:SourceArn`) or
its account (`aws:SourceAccount`, `aws:SourceOwner`), or under no condition. A statement with any
other condition, or with NotPrincipal/NotAction/NotResource, is not taken as a grant: topology then
writes its own statement, which is harmless where one already applies, while a grant missed would
not be.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["OWN_SID", "canonical", "default_topic_policy", "granted_topics", "grants", "mentioned_topics", "merged",
           "own", "parse", "without_own"]

OWN_SID = "topology-sns-"  # the statements topology writes into queue policies start with this Sid
_DEFAULT_VERSION = "2008-10-17"  # IAM's version of a policy that names none
_LISTS = ("Action", "NotAction", "Resource", "NotResource")
_ACCOUNT = re.compile(r"^\d{12}$")
_SNS = "sns.amazonaws.com"
_ARN_CONDITIONS = {"arnequals": False, "arnlike": True, "stringequals": False, "stringlike": True}
_SOURCE_ARN = "aws:sourcearn"
_SOURCE_ACCOUNT = ("aws:sourceaccount", "aws:sourceowner")


def parse(text: str | None) -> dict[str, Any] | None:
    """A policy attribute's JSON text as data; None for no policy (absent or empty)."""
    if not text or not text.strip():
        return None
    document = json.loads(text)
    return document if isinstance(document, dict) else None


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _one_or_sorted(values: Iterable[Any]) -> Any:
    """A single value alone, several as a sorted list without repeats."""
    unique = sorted({json.dumps(v, sort_keys=True): v for v in values}.items())
    return unique[0][1] if len(unique) == 1 else [v for _, v in unique]


def _principal(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    canonical: dict[str, Any] = {}
    for kind, names in value.items():
        listed = _values(names)
        if kind == "AWS":
            listed = [f"arn:aws:iam::{n}:root" if isinstance(n, str) and _ACCOUNT.match(n) else n for n in listed]
        canonical[kind] = _one_or_sorted(listed)
    return canonical


def _statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    canonical: dict[str, Any] = {}
    for key, value in statement.items():
        if key in _LISTS:
            canonical[key] = _one_or_sorted(_values(value))
        elif key in ("Principal", "NotPrincipal"):
            canonical[key] = _principal(value)
        elif key == "Condition" and isinstance(value, Mapping):
            canonical[key] = {op: {k: _one_or_sorted(_values(v)) for k, v in keys.items()}
                              if isinstance(keys, Mapping) else keys for op, keys in value.items()}
        else:
            canonical[key] = value
    return canonical


def canonical(document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`document` in the one form two policies of the same meaning share (see the module's docstring)."""
    if document is None:
        return None
    statements = document.get("Statement", [])
    listed = statements if isinstance(statements, list) else [statements]
    result = {**document, "Version": document.get("Version", _DEFAULT_VERSION)}
    result["Statement"] = sorted((_statement(s) if isinstance(s, Mapping) else s for s in listed),
                                 key=lambda s: json.dumps(s, sort_keys=True))
    return result


def own(statement: Mapping[str, Any]) -> bool:
    """A statement topology wrote (to let a subscribed topic send)."""
    return str(statement.get("Sid", "")).startswith(OWN_SID)


def _matches(patterns: Any, value: str, *, like: bool, case: bool = True) -> bool:
    for pattern in _values(patterns):
        if not isinstance(pattern, str):
            continue
        left, right = (pattern, value) if case else (pattern.lower(), value.lower())
        if left == right or (like and fnmatch.fnmatchcase(right, left)):
            return True
    return False


def _to_sns(principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return "*" in _values(principal.get("AWS", [])) or _SNS in _values(principal.get("Service", []))


def _conditions_hold(condition: Any, topic_arn: str) -> bool:
    """Every condition of the statement holds for a message SNS sends from `topic_arn`."""
    if condition is None:
        return True
    if not isinstance(condition, Mapping):
        return False
    account = topic_arn.split(":")[4] if topic_arn.count(":") >= 5 else ""
    for operator, keys in condition.items():
        base = str(operator).removesuffix("IfExists").lower()
        if base not in _ARN_CONDITIONS or not isinstance(keys, Mapping):
            return False
        like = _ARN_CONDITIONS[base]
        for key, values in keys.items():
            name = str(key).lower()
            if name == _SOURCE_ARN and _matches(values, topic_arn, like=like):
                continue
            if name in _SOURCE_ACCOUNT and _matches(values, account, like=like):
                continue
            return False
    return True


def grants(statement: Mapping[str, Any], queue_arn: str, topic_arn: str) -> bool:
    """Whether `statement` lets SNS topic `topic_arn` send messages to queue `queue_arn`."""
    if statement.get("Effect") != "Allow" or any(k in statement for k in ("NotPrincipal", "NotAction", "NotResource")):
        return False
    if not _to_sns(statement.get("Principal")):
        return False
    if not _matches(statement.get("Action", []), "sqs:SendMessage", like=True, case=False):
        return False
    if not _matches(statement.get("Resource", []), queue_arn, like=True):
        return False
    return _conditions_hold(statement.get("Condition"), topic_arn)


def _statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    statements = (document or {}).get("Statement", [])
    return [s for s in (statements if isinstance(statements, list) else [statements]) if isinstance(s, Mapping)]


def granted_topics(document: Mapping[str, Any] | None, queue_arn: str, topic_arns: Iterable[str]) -> list[str]:
    """Which of `topic_arns` the policy lets send to the queue (by any statement, topology's or not)."""
    statements = _statements(document)
    return sorted(arn for arn in set(topic_arns) if any(grants(s, queue_arn, arn) for s in statements))


def _source_arns(condition: Any) -> list[Any] | None:
    """The values a statement's conditions give `aws:SourceArn`; None when no condition names it."""
    if not isinstance(condition, Mapping):
        return None
    found: list[Any] | None = None
    for keys in condition.values():
        for key, values in (keys.items() if isinstance(keys, Mapping) else ()):
            if str(key).lower() == _SOURCE_ARN:
                found = (found or []) + _values(values)
    return found


def mentioned_topics(document: Mapping[str, Any] | None) -> tuple[set[str], bool]:
    """The SNS topic ARNs the policy's grants to SNS name exactly, and whether one of them could grant
    topics it does not name (a pattern, a whole account, no condition at all)."""
    named: set[str] = set()
    open_ended = False
    for statement in _statements(document):
        if statement.get("Effect") != "Allow" or not _to_sns(statement.get("Principal")):
            continue
        arns = _source_arns(statement.get("Condition"))
        if arns is None:
            open_ended = True
            continue
        exact = {a for a in arns if isinstance(a, str) and not any(c in a for c in "*?")}
        named |= exact
        open_ended = open_ended or len(exact) < len(arns)
    return named, open_ended


def merged(base: Mapping[str, Any] | None, queue_arn: str, topic_arns: Sequence[str]) -> dict[str, Any] | None:
    """The queue policy to write: `base` (the declared policy, or the live one) without topology's old
    statements, plus one statement for each of `topic_arns` that no other statement grants already.
    None when that leaves no statement at all."""
    kept: list[dict[str, Any]] = [dict(s) for s in _statements(base) if not own(s)]
    ours: list[dict[str, Any]] = [{"Sid": OWN_SID + arn.rsplit(":", 1)[-1], "Effect": "Allow",
             "Principal": {"Service": _SNS}, "Action": "sqs:SendMessage", "Resource": queue_arn,
             "Condition": {"ArnEquals": {"aws:SourceArn": arn}}}
            for arn in topic_arns if not any(grants(s, queue_arn, arn) for s in kept)]
    if not kept and not ours:
        return None
    document: dict[str, Any] = dict(base) if base is not None else {"Version": "2012-10-17"}
    document["Statement"] = kept + ours
    return document


def without_own(document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The policy without topology's statements: what a file declares as the queue's `policy`. None
    when nothing else is left."""
    if document is None:
        return None
    kept = [s for s in _statements(document) if not own(s)]
    if not kept:
        return None
    return {**document, "Statement": kept}


def default_topic_policy(topic_arn: str, owner: str) -> list[dict[str, Any]]:
    """The policies SNS gives a topic nobody set one on (the owner may do everything on it), in
    canonical form: with and without `SNS:Receive`, which older topics carry."""
    actions = ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
               "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"]
    found: list[dict[str, Any]] = []
    for extra in ([], ["SNS:Receive"]):
        document: dict[str, Any] = {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": actions + extra, "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": owner}}}]}
        found.append(canonical(document) or {})
    return found
