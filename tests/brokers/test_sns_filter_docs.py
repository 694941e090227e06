"""The SNS filter-policy evaluator of `topology test` and the checks of `validate` against the cases of
AWS's own documentation, page by page (the Amazon SNS developer guide, as published; each group names
its page). Each case is a policy, its scope, one message and whether AWS says the message is delivered.

A message is written as an expectation writes it: in the attribute scope a string is a String attribute,
a number a Number, a list a String.Array and bytes a Binary; in the body scope it is the JSON body.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli import topology
from topology.brokers.aws.filter_policy import policy_problems, wire_attributes
from topology.brokers.aws.routing import route_sns
from topology.core.resource import Resource
from topology.errors import RoutingError

GUIDE = "https://docs.aws.amazon.com/sns/latest/dg/"
ATTRIBUTES, BODY = "MessageAttributes", "MessageBody"


@dataclass(frozen=True)
class Case:
    page: str
    policy: dict[str, Any]
    scope: str
    message: dict[str, Any]
    delivered: bool

    def __str__(self) -> str:
        return f"{self.page} {json.dumps(self.policy)} {self.scope} {json.dumps(self.message, default=str)}"


def _cases(page: str, policy: dict[str, Any], scope: str, delivered: list[dict[str, Any]],
           refused: list[dict[str, Any]]) -> list[Case]:
    return ([Case(page, policy, scope, m, True) for m in delivered] +
            [Case(page, policy, scope, m, False) for m in refused])


# The example message of the page: its attributes, and the same as a body.
_EXAMPLE_ATTRIBUTES = {"customer_interests": ["soccer", "rugby", "hockey"], "store": "example_corp",
                       "event": "order_placed", "price_usd": 210.75}
_ACCEPTS = {"store": ["example_corp"], "event": [{"anything-but": "order_cancelled"}],
            "customer_interests": ["rugby", "football", "baseball"], "price_usd": [{"numeric": [">=", 100]}]}
_REJECTS = {"store": ["example_corp"], "event": ["order_cancelled"], "encrypted": [False],
            "customer_interests": ["basketball", "baseball"]}
EXAMPLES = [case for scope in (ATTRIBUTES, BODY) for case in
            _cases(GUIDE + "example-filter-policies.html", _ACCEPTS, scope, [_EXAMPLE_ATTRIBUTES], []) +
            _cases(GUIDE + "example-filter-policies.html", _REJECTS, scope, [], [_EXAMPLE_ATTRIBUTES])]

_STRINGS = GUIDE + "string-value-matching.html"
STRINGS = [
    # Exact matching: "For String.Array type attributes, each element in the array is treated as a separate
    # string for matching purposes."
    *_cases(_STRINGS, {"customer_interests": ["rugby", "tennis"]}, ATTRIBUTES,
            [{"customer_interests": "rugby"}, {"customer_interests": "tennis"},
             {"customer_interests": ["rugby", "tennis"]}],
            [{"customer_interests": "baseball"}, {"customer_interests": ["baseball"]}]),
    *_cases(_STRINGS, {"customer_interests": ["rugby", "tennis"]}, BODY,
            [{"customer_interests": "rugby"}, {"customer_interests": "tennis"}],
            [{"customer_interests": "baseball"}]),
    # Anything-but: an array matches when one of its elements is not listed ("because it contains a value
    # that isn't rugby or tennis"). The page's sentence "For String.Array type attributes, it matches if none
    # of the array elements are listed" contradicts its own examples ([rugby, baseball] matches, [rugby] does
    # not); the examples are followed.
    *_cases(_STRINGS, {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}, ATTRIBUTES,
            [{"customer_interests": "baseball"}, {"customer_interests": "football"},
             {"customer_interests": ["rugby", "baseball"]}],
            [{"customer_interests": "rugby"}, {"customer_interests": ["rugby"]}]),
    *_cases(_STRINGS, {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}, BODY,
            [{"customer_interests": "baseball"}, {"customer_interests": "football"},
             {"customer_interests": ["rugby", "baseball"]}],
            [{"customer_interests": ["rugby"]}]),
    # "anything-but can be combined with "exists": false": an absent key, or any other value
    *_cases(_STRINGS, {"customer_interests": [{"anything-but": ["rugby", "tennis"]}, {"exists": False}]},
            ATTRIBUTES, [{"store": "fans"}, {"customer_interests": "baseball"}], [{"customer_interests": "rugby"}]),
    # Using a prefix with anything-but
    *_cases(_STRINGS, {"event": [{"anything-but": {"prefix": "order-"}}]}, ATTRIBUTES,
            [{"event": "data-entry"}, {"event": "order_number"}], [{"event": "order-cancelled"}]),
    *_cases(_STRINGS, {"event": [{"anything-but": {"prefix": "order-"}}]}, BODY,
            [{"event": "data-entry"}, {"event": "order_number"}], [{"event": "order-cancelled"}]),
    # anything-but wildcard, anything-but suffix (the page writes the messages as arrays)
    *[case for scope in (ATTRIBUTES, BODY) for operator in ({"wildcard": "*ball"}, {"suffix": "ball"})
      for case in _cases(_STRINGS, {"customer_interests": [{"anything-but": operator}]}, scope,
                         [{"customer_interests": ["hockey", "rugby", "soccer"]}],
                         [{"customer_interests": ["baseball", "basketball"]}])],
    # Equals-ignore-case matching
    *_cases(_STRINGS, {"customer_interests": [{"equals-ignore-case": "tennis"}]}, ATTRIBUTES,
            [{"customer_interests": "TENNIS"}, {"customer_interests": "Tennis"}], []),
    *_cases(_STRINGS, {"customer_interests": [{"equals-ignore-case": "tennis"}]}, BODY,
            [{"customer_interests": "TENNIS"}, {"customer_interests": "teNnis"}], []),
    # IP address matching
    *_cases(_STRINGS, {"source_ip": [{"cidr": "10.0.0.0/24"}]}, ATTRIBUTES,
            [{"source_ip": "10.0.0.0"}, {"source_ip": "10.0.0.255"}], [{"source_ip": "10.1.1.0"}]),
    *_cases(_STRINGS, {"source_ip": [{"cidr": "10.0.0.0/24"}]}, BODY,
            [{"source_ip": "10.0.0.0"}, {"source_ip": "10.0.0.255"}], [{"source_ip": "10.1.1.0"}]),
    # Prefix matching; the last case applies the page's String.Array rule (each element a separate string)
    *_cases(_STRINGS, {"customer_interests": [{"prefix": "bas"}]}, ATTRIBUTES,
            [{"customer_interests": "baseball"}, {"customer_interests": "basketball"},
             {"customer_interests": ["rugby", "baseball"]}],
            [{"customer_interests": "rugby"}, {"customer_interests": ["rugby", "soccer"]}]),
    *_cases(_STRINGS, {"customer_interests": [{"prefix": "bas"}]}, BODY,
            [{"customer_interests": "baseball"}, {"customer_interests": "basketball"}],
            [{"customer_interests": "rugby"}]),
    # Suffix matching
    *_cases(_STRINGS, {"customer_interests": [{"suffix": "ball"}]}, ATTRIBUTES,
            [{"customer_interests": "baseball"}, {"customer_interests": "basketball"}],
            [{"customer_interests": "rugby"}]),
    *_cases(_STRINGS, {"customer_interests": [{"suffix": "ball"}]}, BODY,
            [{"customer_interests": "baseball"}, {"customer_interests": "basketball"}],
            [{"customer_interests": "rugby"}]),
    # Wildcard
    *_cases(_STRINGS, {"customer_interests": [{"wildcard": "*ball"}]}, ATTRIBUTES,
            [{"customer_interests": ["baseball", "basketball"]}], []),
    *_cases(_STRINGS, {"customer_interests": [{"wildcard": "*ball"}]}, BODY,
            [{"customer_interests": ["baseball", "basketball"]}], []),
]

_NUMBERS = GUIDE + "numeric-value-matching.html"
NUMBERS = [
    # Exact matching: 301.5 and 3.015e2 are one number
    *_cases(_NUMBERS, {"price_usd": [{"numeric": ["=", 301.5]}]}, ATTRIBUTES,
            [{"price_usd": 301.5}, {"price_usd": 3.015e2}], []),
    *_cases(_NUMBERS, {"price_usd": [{"numeric": ["=", 301.5]}]}, BODY,
            [{"price_usd": 301.5}, {"price_usd": 3.015e2}], []),
    # Anything-but matching (the page's "Number.Array" attribute is a String.Array of numbers)
    *_cases(_NUMBERS, {"price": [{"anything-but": [100, 500]}]}, ATTRIBUTES,
            [{"price": 101}, {"price": 100.1}, {"price": [100, 50]}], [{"price": 100}]),
    *_cases(_NUMBERS, {"price": [{"anything-but": [100, 500]}]}, BODY,
            [{"price": 101}, {"price": 100.1}, {"price": [100, 50]}], [{"price": 100}]),
    # Value range matching: "negative numeric values"; "positive numbers up to and including 150"
    *_cases(_NUMBERS, {"price_usd": [{"numeric": ["<", 0]}]}, ATTRIBUTES,
            [{"price_usd": -1}, {"price_usd": -0.5}], [{"price_usd": 0}, {"price_usd": 3}]),
    *_cases(_NUMBERS, {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, ATTRIBUTES,
            [{"price_usd": 150}, {"price_usd": 0.1}], [{"price_usd": 0}, {"price_usd": 150.5}, {"price_usd": -2}]),
    *_cases(_NUMBERS, {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, BODY,
            [{"price_usd": 150}, {"price_usd": 0.1}], [{"price_usd": 0}, {"price_usd": 150.5}]),
]

_KEYS = GUIDE + "attribute-key-matching.html"
_STORE = {"store": "fans", "customer_interests": ["baseball", "basketball"]}
_NO_STORE = {"customer_interests": ["baseball", "basketball"]}
KEYS = [
    *[case for scope in (ATTRIBUTES, BODY) for case in
      _cases(_KEYS, {"store": [{"exists": True}]}, scope, [_STORE], [_NO_STORE]) +
      _cases(_KEYS, {"store": [{"exists": False}]}, scope, [_NO_STORE], [_STORE])],
    # "The key must have a non-null and non-empty value."
    *_cases(_KEYS, {"store": [{"exists": True}]}, BODY, [{"store": ""}, {"store": [None, "fans"]}],
            [{"store": None}, {"store": []}, {"store": [None]}]),
    *_cases(_KEYS, {"store": [{"exists": True}]}, ATTRIBUTES, [], [{"store": []}]),
    # ""exists": false only matches if at least one attribute is present. An empty set of attributes results in
    # the filter not matching." (A Binary attribute is present, though filtering ignores its value.)
    *_cases(_KEYS, {"store": [{"exists": False}]}, ATTRIBUTES, [{"other": "x"}], [{}]),
    *_cases(_KEYS, {"store": [{"exists": False}, "fans"]}, ATTRIBUTES, [{"store": "fans"}], [{}]),
]

_LOGIC = GUIDE + "and-or-logic.html"
_STANDARD_OR = {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}
_NESTED_OR = {"$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
              "detail": {"scope": ["Service"], "$or": [{"source": ["aws.cloudwatch"]},
                                                       {"type": ["CloudWatch Alarm State Change"]}]}}
LOGIC = [
    # AND logic: rugby *and* more than 100
    *_cases(_LOGIC, {"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}, ATTRIBUTES,
            [{"customer_interests": "rugby", "price_usd": 150}],
            [{"customer_interests": "rugby", "price_usd": 50}, {"customer_interests": "tennis", "price_usd": 150}]),
    # OR logic: any of the values
    *_cases(_LOGIC, {"customer_interests": ["rugby", "football", "baseball"]}, ATTRIBUTES,
            [{"customer_interests": "football"}], [{"customer_interests": "tennis"}]),
    # OR operator: "source" && ("metricName" || "namespace")
    *[case for scope in (ATTRIBUTES, BODY) for case in _cases(
        _LOGIC, _STANDARD_OR, scope,
        [{"source": "aws.cloudwatch", "metricName": "CPUUtilization"},
         {"source": "aws.cloudwatch", "namespace": "AWS/EC2"}],
        [{"source": "aws.cloudwatch"}, {"metricName": "CPUUtilization", "namespace": "AWS/EC2"}])],
    # The nested policy: (metricName or namespace) and detail.scope and (detail.source or detail.type)
    *_cases(_LOGIC, _NESTED_OR, BODY,
            [{"metricName": "CPUUtilization", "detail": {"scope": "Service", "source": "aws.cloudwatch"}},
             {"namespace": "AWS/ES", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}}],
            [{"metricName": "CPUUtilization", "detail": {"scope": "Service"}},
             {"metricName": "CPUUtilization", "detail": {"source": "aws.cloudwatch"}},
             {"detail": {"scope": "Service", "source": "aws.cloudwatch"}}]),
]

_CONSTRAINTS = GUIDE + "subscription-filter-policy-constraints.html"
CONSTRAINTS = [
    # "Amazon SNS ignores message attributes with the Binary data type"; string matching is case-sensitive
    *_cases(_CONSTRAINTS, {"store": [{"exists": False}]}, ATTRIBUTES, [{"store": b"binary"}], []),
    *_cases(_CONSTRAINTS, {"store": [{"exists": True}]}, ATTRIBUTES, [], [{"store": b"binary"}]),
    *_cases(_CONSTRAINTS, {"store": ["example_corp"]}, ATTRIBUTES, [], [{"store": "Example_Corp"}]),
    # Numbers have five digits of accuracy after the decimal point
    *_cases(_CONSTRAINTS, {"price": [{"numeric": ["=", 1.5]}]}, ATTRIBUTES,
            [{"price": 1.500001}], [{"price": 1.50001}]),
]

ALL = EXAMPLES + STRINGS + NUMBERS + KEYS + LOGIC + CONSTRAINTS


def _routed(policy: dict[str, Any], scope: str, message: dict[str, Any]) -> bool:
    resources = {
        "sns/topic/t": Resource("sns.topic", "sns/topic/t", "t", "", None, {}),
        "sns/subscription/t->q": Resource("sns.subscription", "sns/subscription/t->q", "t->q", "", None, {
            "topic": "t", "queue": "q", "FilterPolicy": policy, "FilterPolicyScope": scope}),
    }
    if scope == BODY:
        return route_sns(resources, "t", body=message) == {"q"}
    return route_sns(resources, "t", attributes=message) == {"q"}


@pytest.mark.parametrize("case", ALL, ids=str)
def test_the_documented_cases(case: Case) -> None:
    assert [p for p in policy_problems(case.policy, case.scope) if not p.warning] == []
    assert _routed(case.policy, case.scope, case.message) is case.delivered


def test_every_page_has_cases_both_ways() -> None:
    pages = {case.page for case in ALL}
    assert len(pages) == 6
    for page in pages:
        assert {case.delivered for case in ALL if case.page == page} == {True, False}, page


# ------------------------------------------------------------------------------------------------ validate

_POLICY_CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    # (page, policy, scope, a part of the problem SNS has with it, or None for none)
    (_CONSTRAINTS, {"key_a": ["value_one", "value_two", "value_three"], "key_b": ["value_one"],
                    "key_c": ["value_one", "value_two"]}, ATTRIBUTES, None),  # 3 x 1 x 2 = 6
    (_CONSTRAINTS, {"key_a": {"key_b": {"key_c": ["1", "2", "3", "4"]}}, "key_d": {"key_e": ["1", "2", "3"]}},
     BODY, None),  # 4 x 3 x 3 x 2 = 72
    (_CONSTRAINTS, {"key_a": {"key_b": {"key_c": ["1", "2", "3", "4"]}}, "key_d": {"key_e": ["1", "2", "3"]},
                    "key_f": ["1", "2", "3"]}, BODY, "216 combinations"),
    (_CONSTRAINTS, {"key": [str(i) for i in range(150)]}, ATTRIBUTES, None),
    (_CONSTRAINTS, {"key": [str(i) for i in range(151)]}, ATTRIBUTES, "151 combinations"),
    (_CONSTRAINTS, {"key1": [str(i) for i in range(100)], "key2": [str(i) for i in range(51)]}, ATTRIBUTES,
     "5100 combinations"),
    (_CONSTRAINTS, {f"key{i}": ["v"] for i in range(5)}, ATTRIBUTES, None),
    (_CONSTRAINTS, {f"key{i}": ["v"] for i in range(6)}, ATTRIBUTES, "6 keys at once"),
    # "For a nested policy, only leaf keys are counted towards the five key limit"
    (_CONSTRAINTS, {"a": {"b": {"c": {"d": ["v"]}}}, "e": {"f": ["v"]}, "g": ["v"], "h": ["v"], "i": ["v"]},
     BODY, None),
    (_CONSTRAINTS, {"order": {"type": ["paid"]}}, ATTRIBUTES, "only a filter policy on the message body can be nested"),
    (_CONSTRAINTS, {"price": [1_000_000_000]}, ATTRIBUTES, None),
    (_CONSTRAINTS, {"price": [{"numeric": [">", -1_000_000_001]}]}, ATTRIBUTES, "is outside"),
    (_CONSTRAINTS, {"price": [{"anything-but": [1e10]}]}, ATTRIBUTES, "is outside"),
    (_CONSTRAINTS, {"file": [{"wildcard": "*a*b*c"}]}, ATTRIBUTES, None),
    (_CONSTRAINTS, {"file": [{"wildcard": "*a*b*c*"}]}, ATTRIBUTES, "at most 3 `*`"),
    (_CONSTRAINTS, {"greeting": [{"anything-but": {"prefix": "Hello"}}, {"wildcard": "H*"}]}, ATTRIBUTES, None),
    # 12 patterns of several wildcards on one key: (12 x 3) x 12 points, over 100
    (_CONSTRAINTS, {"file": [{"wildcard": f"*{i}*"} for i in range(12)]}, ATTRIBUTES, "wildcard complexity is 432"),
    # and-or-logic.html: the complexity of `$or` is the sum over its alternatives
    (_LOGIC, {"source": ["aws.cloudwatch"], "$or": [
        {"metricName": ["CPUUtilization", "ReadLatency"]},
        {"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]},
     ATTRIBUTES, None),  # 7
    (_LOGIC, {"source": ["a", "b", "c"], "$or": [
        {"metricName": ["1", "2", "3", "4", "5", "6"]},
        {"metricType": ["1", "2", "3", "4"], "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4, 5, 6, 7]}]}]},
     ATTRIBUTES, None),  # 3*6 + 3*4*4 + 3*4*7 = 150
    (_LOGIC, {"source": ["a", "b", "c", "d"], "$or": [
        {"metricName": ["1", "2", "3", "4", "5", "6"]},
        {"metricType": ["1", "2", "3", "4"], "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4]}]}]},
     ATTRIBUTES, "152 combinations"),  # 4*6 + 4*4*4 + 4*4*4
    (_LOGIC, {"$or": [{"metricName": ["1", "2", "3"]}, {"namespace": ["1", "2"]}],
              "detail": {"scope": ["Service", "Test"],
                         "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["1", "2", "3"]}]}},
     BODY, "160 combinations"),  # (3 + 2) x (2 x 2) x (1 x 2 + 3 x 2)
    (_LOGIC, {"$or": [{"numeric": 123}, {"prefix": "abc"}]}, ATTRIBUTES, "`numeric` takes one comparison"),
    (_LOGIC, {"$or": [{"metricName": ["CPUUtilization"]}]}, ATTRIBUTES, "needs a list of at least two alternatives"),
    # the operators of string-value-matching.html and numeric-value-matching.html, and what they take
    (_STRINGS, {"source_ip": [{"cidr": "10.0.0.0/24"}]}, ATTRIBUTES, None),
    (_STRINGS, {"source_ip": [{"cidr": "2001:db8::/32"}]}, ATTRIBUTES, None),
    (_STRINGS, {"source_ip": [{"cidr": "10.0.0.0"}]}, ATTRIBUTES, "CIDR notation"),
    (_STRINGS, {"source_ip": [{"cidr": "10.0.0.0/33"}]}, ATTRIBUTES, "not an IPv4 or IPv6 network"),
    (_STRINGS, {"source_ip": [{"cidr": "300.0.0.0/8"}]}, ATTRIBUTES, "not an IPv4 or IPv6 network"),
    (_STRINGS, {"source_ip": [{"cidr": "10.0.0.0/x"}]}, ATTRIBUTES, "must be a whole number"),
    (_STRINGS, {"source_ip": [{"cidr": 10}]}, ATTRIBUTES, "CIDR notation"),
    (_STRINGS, {"event": [{"anything-but": {"prefix": "order-"}}]}, ATTRIBUTES, None),
    (_STRINGS, {"event": [{"anything-but": {"suffix": "-cancelled"}}]}, ATTRIBUTES, None),
    (_STRINGS, {"event": [{"anything-but": {"wildcard": "order-*"}}]}, ATTRIBUTES, None),
    (_STRINGS, {"event": [{"anything-but": {"prefix": 5}}]}, ATTRIBUTES, "`prefix` takes a string"),
    (_STRINGS, {"event": [{"anything-but": {"exists": False}}]}, ATTRIBUTES, "`anything-but` takes"),
    (_STRINGS, {"event": [{"anything-but": []}]}, ATTRIBUTES, "lists no values"),
    (_STRINGS, {"event": [{"prefix": "a", "suffix": "b"}]}, ATTRIBUTES, "exactly one operator"),
    (_STRINGS, {"event": [{"prefx": "a"}]}, ATTRIBUTES, "not an SNS filter operator"),
    (_STRINGS, {"event": [{"suffix": 100}]}, ATTRIBUTES, "`suffix` takes a string"),
    (_STRINGS, {"event": [["value"]]}, ATTRIBUTES, "not a list"),
    (_STRINGS, {"event": []}, ATTRIBUTES, "lists no values"),
    (_STRINGS, {"event": "order_placed"}, ATTRIBUTES, "must be a list of values"),
    (_NUMBERS, {"price": [{"numeric": [">", 0, "<=", 150]}]}, ATTRIBUTES, None),
    (_NUMBERS, {"price": [{"numeric": []}]}, ATTRIBUTES, "one comparison or one range"),
    (_NUMBERS, {"price": [{"numeric": ["=", "100"]}]}, ATTRIBUTES, "compares with a number"),
    (_NUMBERS, {"price": [{"numeric": ["<", 100, ">", 10]}]}, ATTRIBUTES, "a lower bound"),
    (_NUMBERS, {"price": [{"numeric": [">", 3, "<", 1]}]}, ATTRIBUTES, "must be below its upper bound"),
    (_NUMBERS, {"price": [{"numeric": ["~", 3]}]}, ATTRIBUTES, "not a comparison SNS knows"),
    (_KEYS, {"store": [{"exists": "no"}]}, ATTRIBUTES, "takes true or false"),
]


@pytest.mark.parametrize(("page", "policy", "scope", "problem"), _POLICY_CASES,
                         ids=[json.dumps(c[1])[:80] for c in _POLICY_CASES])
def test_what_sns_refuses(page: str, policy: dict[str, Any], scope: str, problem: str | None) -> None:
    errors = [p.message for p in policy_problems(policy, scope) if not p.warning]
    if problem is None:
        assert errors == [], page
    else:
        assert len(errors) == 1 and problem in errors[0], (page, errors)


def test_more_than_five_decimals_is_a_warning() -> None:
    [problem] = policy_problems({"price": [{"numeric": ["=", 0.123456]}]}, ATTRIBUTES)
    assert problem.warning and problem.path == ("price", 0, "numeric", 1)
    assert problem.message == "SNS compares numbers to 5 decimal places; 0.123456 has more"


def test_validate_locates_each_problem_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "t.topology.yaml"
    path.write_text("""version: 1
sqs:
  queues: {billing: {}}
sns:
  topics:
    events:
      subscriptions:
        - queue: billing
          filter_policy:
            source_ip: [{cidr: 10.0.0.0}]
            price: [{numeric: [">", 10, "<", 5]}]
expectations:
  - publish: {sns_topic: events, attributes: {urgent: true, tags: [{a: 1}]}}
    delivered_to: [billing]
""")
    result = topology("validate", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert [line.split(" ", 1)[0] for line in lines[:-1]] == [
        f"{path}:10:26", f"{path}:11:22", f"{path}:13:47", f"{path}:13:61"], lines
    assert "`cidr` takes a network in CIDR notation" in lines[0]
    assert "the range's lower bound 10 must be below its upper bound 5" in lines[1]
    assert "SNS has no boolean message attribute" in lines[2]
    assert "a String.Array holds strings, numbers, true, false and null only" in lines[3]
    assert all("Traceback" not in line for line in lines)


# ------------------------------------------------------------------------------ what `--live` publishes

def test_attributes_travel_with_sns_types() -> None:
    """sns-message-attributes.html: String.Array is "an array, formatted as a string" of strings, numbers,
    true, false and null; Number a number; Binary bytes."""
    assert wire_attributes({"tags": ["rugby", 7, True, None], "amount": 210.75, "count": 3, "region": "eu",
                            "blob": b"\x00\x01"}) == {
        "tags": {"DataType": "String.Array", "StringValue": '["rugby", 7, true, null]'},
        "amount": {"DataType": "Number", "StringValue": "210.75"},
        "count": {"DataType": "Number", "StringValue": "3"},
        "region": {"DataType": "String", "StringValue": "eu"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    }
    with pytest.raises(ValueError, match="no boolean message attribute"):
        wire_attributes({"urgent": True})


def test_a_message_sns_could_not_carry_is_one_sentence() -> None:
    with pytest.raises(RoutingError, match=r"^the message cannot be published to SNS: attribute `urgent`: SNS has "):
        _routed({"urgent": ["true"]}, ATTRIBUTES, {"urgent": True})


# ------------------------------------------------------------------------ bounded on any input

def test_numbers_beyond_a_float_are_one_located_sentence(tmp_path: Path) -> None:
    huge = 10**400
    assert [p.message for p in policy_problems({"price": [huge, {"numeric": [">", -huge]},
                                                          {"anything-but": [huge]}]}, ATTRIBUTES)] == [
        f"SNS matches numbers from -1,000,000,000 to 1,000,000,000; {value} is outside" for value in
        ("1.000000e+400", "-1.000000e+400", "1.000000e+400")]
    path = tmp_path / "t.topology.yaml"
    path.write_text(f"""version: 1
sqs:
  queues: {{billing: {{}}}}
sns:
  topics:
    events:
      subscriptions: [{{queue: billing, filter_policy: {{price: [{huge}]}}}}]
expectations:
  - publish: {{sns_topic: events, attributes: {{price: {huge}, big: 1.0e+127, small: 1.0e-129, long: {10**38 + 1}}}}}
    delivered_to: [billing]
""")
    for command in ("validate", "test"):
        result = topology(command, str(path))
        said = result.stdout + result.stderr
        assert result.returncode == 1 and "unexpectedly" not in said and "Traceback" not in said, said
        assert f"{path}:7:64 " in said and said.count(f"{path}:9:") == 4, said
        assert said.count("SNS carries a Number of up to 38 digits") == 4, said


def test_a_wildcard_matches_in_time_linear_in_the_value() -> None:
    """Three `*` (what SNS allows) against a long value: a backtracking regular expression took seconds
    for 3,000 characters, and grew with their cube."""
    started = time.perf_counter()
    for value, delivered in (("a" * 200_000, False), ("a" * 200_000 + "b", True), ("ab" * 100_000, True)):
        assert _routed({"file": [{"wildcard": "*a*a*b"}]}, ATTRIBUTES, {"file": value}) is delivered
        assert _routed({"file": [{"anything-but": {"wildcard": "*a*a*b"}}]}, ATTRIBUTES,
                       {"file": value}) is not delivered
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(("pattern", "value", "delivered"), [
    ("*", "x", True), ("a*", "a", True), ("*a", "ba", True), ("a*a", "a", False), ("a*a", "aa", True),
    ("*.jpg", "x.jpg.png", False), ("a*b*c", "abc", True), ("a*b*c", "acb", False), ("**", "x", True),
    ("*ab*ab", "abab", True), ("*ab*ab", "aab", False), ("x", "x", True), ("x", "xx", False)])
def test_wildcard_cases(pattern: str, value: str, delivered: bool) -> None:
    assert _routed({"file": [{"wildcard": pattern}]}, ATTRIBUTES, {"file": value}) is delivered


def test_attribute_names_sns_would_refuse_are_said() -> None:
    """sns-message-attributes.html: a name holds A-Z, a-z, 0-9, `_`, `-` and `.`, neither starts nor ends with
    a period nor holds two in a row, is at most 256 characters, and does not start with AWS. or Amazon. (in any
    case)."""
    from topology.brokers.aws.filter_policy import attribute_problems

    refused = ["my attr", ".a", "a.", "a..b", "aws.thing", "Amazon.x", "x" * 257, "ü", ""]
    taken = ["a.b", "A-Z_0.9", "x" * 256, "awsx", "AWS"]
    problems = {name for name, _, _ in attribute_problems({name: "v" for name in refused + taken})}
    assert problems == set(refused)


def test_more_than_ten_attributes_never_reach_a_raw_delivery_queue() -> None:
    """sns-message-attributes.html: "Messages with more than 10 message attributes directed towards Raw Message
    Delivery enabled Amazon SQS subscriptions will be discarded as client side errors."""
    resources = {"sns/topic/t": Resource("sns.topic", "sns/topic/t", "t", "", None, {})}
    for queue, raw in (("raw", True), ("wrapped", False)):
        resources[f"sns/subscription/t->{queue}"] = Resource(
            "sns.subscription", f"sns/subscription/t->{queue}", f"t->{queue}", "", None,
            {"topic": "t", "queue": queue, "RawMessageDelivery": raw, "FilterPolicy": {"a0": [{"exists": True}]}})
    ten = {f"a{index}": "v" for index in range(10)}
    assert route_sns(resources, "t", attributes=ten) == {"raw", "wrapped"}
    assert route_sns(resources, "t", attributes={**ten, "a10": b"\x00"}) == {"wrapped"}
