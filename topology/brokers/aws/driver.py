"""The SQS, SNS and CloudWatch driver (boto3), for AWS and for endpoints that speak its API (moto, LocalStack).

Reads: ListQueues with pagination (1,000 a page on AWS), then attributes and tags of the queues in
scope concurrently with a bounded pool; SNS topics, attributes, tags and subscriptions (of every
protocol; one pending confirmation, listed without an ARN, as such) likewise. Attribute strings are
parsed (numbers, booleans) and JSON documents compared as data (`wire`); the topics a queue's policy
lets send are read from every statement that grants it, whoever wrote it (`policy`). The CloudWatch
alarms of queues' limits are read and written by `cloudwatch`, queues' live counts by `health`.

Writes what AWS needs and moto does not model as well: a re-create of a name deleted less than 60 s
ago waits out `QueueDeletedRecently` (bounded, with progress); SetQueueAttributes is read back until
it agrees (bounded), since SQS is eventually consistent; a statement letting a subscribed topic send
is added to the queue's policy only where no statement grants it already, and every statement
topology did not write is kept; what it creates is tagged `managed-by: topology`, and nothing else is.

Keeps its promises: a change planned while a queue was empty re-reads SQS's counts (visible, in
flight and delayed) just before it deletes, replaces or shortens the retention of the queue, and is
refused if they are not all zero; a subscription never exists without its declared filter policy;
every request has the target's connect and read timeouts and at most `_ATTEMPTS` tries, and every
botocore error becomes one sentence at this boundary. The apply lock is a lease on the one token
message of a FIFO queue (see `lock`).

Errors at the boundary, one way: every request goes through a `_Client`, which runs it inside
`_Boundary.translating`: AWS's answers become topology's errors by the `_ANSWERS` table (error
codes), botocore's own failures by `_failures()` (exception classes), the original chained. Clients
are made on first use, and names (queue URLs, ARNs) are looked up when a change needs them, so
opening the driver makes no request and apply needs no inspect before it.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from topology.brokers.aws import policy, wire
from topology.brokers.aws.alarms import ALARM, in_file_words
from topology.brokers.aws.cloudwatch import apply_alarm, inspect_alarms, wants_alarms
from topology.brokers.aws.expand import subscription_name
from topology.brokers.aws.health import read_health
from topology.brokers.base import ChangeResult, Driver, Live, Selection, refused_not_empty
from topology.core.monitor import Reading, Watch
from topology.core.pool import reading_pool
from topology.core.resource import Resource, same
from topology.engine.plan import Change
from topology.errors import BrokerError, BrokerUnavailable, InputError, LockedError, redact_url

__all__ = ["LOCK_QUEUE", "AwsDriver", "AwsRefused", "translated"]

_NOT_SENT = ("tags", "tags_on_create", "allow_sns_topics")  # kept apart from SetQueueAttributes' attributes
_PENDING = "PendingConfirmation"  # SNS's SubscriptionArn for a subscription not confirmed yet
_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
           "ApproximateNumberOfMessagesDelayed")
_DELETED_RECENTLY_WAIT_S = 75.0
_READ_BACK_TRIES = 25
_ATTEMPTS = 2  # tries per request (one retry, for a throttle or a dropped connection), so a silent endpoint
#                costs at most 2 x the read timeout
_NO_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")

LOCK_QUEUE = "topology-lock.fifo"  # never inspected, exported or pruned
_LOCK_GROUP = "apply"
_TOKEN_BODY = "topology apply lock"
_LOCK_LEASE_S = 30  # how long a dead holder keeps the lock; renewed every 10 s while held


def _is_token(message: Mapping[str, Any]) -> bool:
    """Only topology's own token is the lock: a message of another group (sent by hand, say) is not."""
    return message.get("Body") == _TOKEN_BODY and \
        message.get("Attributes", {}).get("MessageGroupId", _LOCK_GROUP) == _LOCK_GROUP


# ------------------------------------------------------------------------- errors at the boundary


class AwsRefused(BrokerError):
    """AWS answered a request with an error; `code` is AWS's error code, for callers that expect some."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# AWS's answers (error codes) that mean something particular, and the error and sentence each becomes;
# any other code is "refused", with AWS's own message. The sentences' fields: {at} ("SQS at <endpoint>"),
# {where}, {service}, {action} (the request: sqs:CreateQueue), {code}, {attempts}.
_ANSWERS: tuple[tuple[frozenset[str], type[BrokerError], str], ...] = (
    (frozenset({"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "InvalidAccessKeyId",
                "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException"}), BrokerUnavailable,
     "{at} rejected the AWS credentials ({code}); check the access key, secret and session token of the "
     "environment, profile or role"),
    (frozenset({"AccessDenied", "AccessDeniedException", "AuthorizationError"}), AwsRefused,
     "access denied for {service}:{action} at {where}; grant it to topology's role"),
    (frozenset({"Throttling", "ThrottlingException", "RequestThrottled", "AWS.SimpleQueueService.RequestThrottled",
                "TooManyRequestsException"}), AwsRefused,
     "{at} throttled {service}:{action} ({code}) after {attempts} tries; run again with a lower --parallelism"),
)
_REFUSED = "{at} refused {service}:{action}: {code}{detail}"


@functools.cache
def _failures() -> tuple[tuple[type[Exception], type[BrokerError], str], ...]:
    """botocore's errors that are no answer from AWS, most particular first, and the sentence each becomes.
    Fields as in `_ANSWERS`, and {tries}, {read_timeout}, {connect_timeout}, {name} (the error's class),
    {kwargs[...]} (what botocore says of it: never a secret, only names of variables and providers)."""
    import botocore.exceptions as e

    unavailable: list[tuple[type[Exception], str]] = [
        (e.ReadTimeoutError, "{at} accepted the connection but did not answer {service}:{action} within "
                             "{read_timeout:g} s ({tries}); check that endpoint_url points at an SQS/SNS endpoint, "
                             "or raise the target's `timeout`"),
        (e.ConnectTimeoutError, "{at} did not accept a connection within {connect_timeout:g} s ({tries}); check "
                                "endpoint_url, the network and firewalls, or raise the target's `connect_timeout`"),
        (e.SSLError, "{at}: the TLS handshake failed; if the endpoint speaks plain HTTP write http:// in "
                     "endpoint_url, else check its certificate"),
        (e.ProxyConnectionError, "{at} is not reachable through the configured HTTPS proxy; check HTTPS_PROXY and "
                                 "NO_PROXY"),
        (e.ConnectionError, "{at} is not reachable ({name}); check endpoint_url and the network"),
        (e.HTTPClientError, "{at} is not reachable ({name}); check endpoint_url and the network"),
        (e.PartialCredentialsError, "the AWS credentials for {at} are incomplete: {kwargs[cred_var]} is missing "
                                    "from {kwargs[provider]}; set the access key and the secret together, or use "
                                    "a profile"),
        (e.NoCredentialsError, "no AWS credentials for {at}: set them in the environment, a profile or an "
                               "instance role"),
        (e.ProfileNotFound, "AWS profile `{kwargs[profile]}` for {at} is not configured; check `profile` in the "
                            "target and ~/.aws/config"),
        (e.CredentialRetrievalError, "the AWS credentials for {at} could not be loaded from {kwargs[provider]}; "
                                     "check that credential source"),
        (e.NoRegionError, "no AWS region for {at}; set `region` in the target"),
    ]
    return (*((kind, BrokerUnavailable, sentence) for kind, sentence in unavailable),
            (e.BotoCoreError, BrokerError, "{at} failed {service}:{action} ({name}); run again, and report it if "
                                           "it persists"))


@dataclass(frozen=True)
class _Boundary:
    """Where requests go and how long they may take: all that the sentences for their failures need."""

    where: str
    connect_timeout: float
    read_timeout: float

    @contextmanager
    def translating(self, service: str, action: str) -> Iterator[None]:
        """The one translation: any botocore error raised inside leaves as topology's, in one sentence
        naming where and what to do, the original chained."""
        import botocore.exceptions

        try:
            yield
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self.error(service, action, exc) from exc

    def error(self, service: str, action: str, exc: Exception) -> BrokerError:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        message = str(response.get("Error", {}).get("Message", "")).strip().rstrip(".")
        fields = {"at": f"{service.upper()} at {self.where}", "where": self.where, "service": service,
                  "action": action, "code": code, "attempts": _ATTEMPTS, "name": type(exc).__name__,
                  "tries": f"{_ATTEMPTS} tries" if _ATTEMPTS > 1 else "1 try", "read_timeout": self.read_timeout,
                  "connect_timeout": self.connect_timeout, "detail": f" ({message})" if message else "",
                  "kwargs": defaultdict(lambda: "?", getattr(exc, "kwargs", None) or {})}
        if response:  # an answer from AWS
            kind, sentence = next(((k, s) for codes, k, s in _ANSWERS if code in codes), (AwsRefused, _REFUSED))
            return kind(sentence.format(**fields), code) if issubclass(kind, AwsRefused) else \
                kind(sentence.format(**fields))
        kind, sentence = next((k, s) for failure, k, s in _failures() if isinstance(exc, failure))
        return kind(sentence.format(**fields))


class _Client:
    """A boto3 client whose every request runs inside its boundary's translation."""

    def __init__(self, client: Any, boundary: _Boundary) -> None:
        self.client = client
        self.boundary = boundary
        self.service = str(client.meta.service_model.service_name)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        action = self.client.meta.method_to_api_mapping.get(name)
        if action is None:  # not a request (meta, exceptions, ...)
            return attribute

        def request(**kwargs: Any) -> Any:
            with self.boundary.translating(self.service, action):
                return attribute(**kwargs)
        return request


def translated(client: Any) -> Any:
    """`client` (a boto3 client) with topology's errors at its boundary; a translated one as it is."""
    if isinstance(client, _Client):
        return client
    meta = client.meta
    where = redact_url(meta.endpoint_url) if meta.endpoint_url else f"AWS region {meta.region_name}"
    return _Client(client, _Boundary(where, float(meta.config.connect_timeout), float(meta.config.read_timeout)))


# ------------------------------------------------------------------------------------------ driver


class _Lazy:
    """A listing made once, on first use, whichever of apply's or inspect's threads asks first."""

    def __init__(self, make: Callable[[], dict[str, str]]) -> None:
        self._make = make
        self._value: dict[str, str] | None = None
        self._lock = threading.Lock()

    def get(self) -> dict[str, str]:
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value


class _Known:
    """Names the driver has learnt (queue URLs, ARNs): put there by listings, or looked up one at a time
    when a change needs one, so apply never depends on an inspect before it; shared by apply's threads."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str, look_up: Callable[[], str]) -> str:
        """The value for `key`, looked up (outside the lock, so lookups of other keys run meanwhile) and
        kept when not known yet; an empty answer (nothing found) is not kept."""
        with self._lock:
            if key in self._values:
                return self._values[key]
        value = look_up()
        if not value:
            return value
        with self._lock:
            return self._values.setdefault(key, value)

    def peek(self, key: str) -> str | None:
        with self._lock:
            return self._values.get(key)

    def first(self) -> str | None:
        with self._lock:
            return next((v for v in self._values.values() if v), None)

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._values[key] = value

    def update(self, values: Mapping[str, str]) -> None:
        with self._lock:
            self._values.update(values)

    def forget(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)


class AwsDriver(Driver):
    """SQS and SNS of one account and region (or endpoint). Connects lazily: no request is made until
    a call needs one, and each client is made on first use."""

    def __init__(self, *, region: str, endpoint_url: str | None = None, profile: str | None = None,
                 parallelism: int = 10, connect_timeout: float = 5.0, read_timeout: float = 30.0,
                 lock_lease: float = _LOCK_LEASE_S) -> None:
        self.region = region
        self.endpoint_url = endpoint_url or None
        self.profile = profile
        self.where = redact_url(endpoint_url) if endpoint_url else f"AWS region {region}"
        self.parallelism = max(1, parallelism)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.lock_lease = max(1, round(lock_lease))
        self._boundary = _Boundary(self.where, connect_timeout, read_timeout)
        self._session: Any = None
        self._clients: dict[str, _Client] = {}
        self._connecting = threading.Lock()
        self._urls = _Known()  # queue name -> URL
        self._queue_arns = _Known()  # queue name -> ARN
        self._topic_arns = _Known()  # topic name -> ARN
        self._subscription_arns = _Known()  # subscription address -> ARN
        self._account = _Known()  # "id" -> the account's id
        self._lease: _Lease | None = None

    @property
    def sqs(self) -> Any:
        return self._client("sqs")

    @property
    def sns(self) -> Any:
        return self._client("sns")

    @property
    def cloudwatch(self) -> Any:
        return self._client("cloudwatch")

    def _client(self, service: str) -> _Client:
        """The client for `service`, made on first use (once, whichever thread asks first)."""
        with self._connecting:
            if service not in self._clients:
                with self._boundary.translating(service, "CreateClient"):
                    self._clients[service] = _Client(self._new_client(service), self._boundary)
            return self._clients[service]

    def _new_client(self, service: str) -> Any:
        """A boto3 client for `service` with the target's endpoint, timeouts and tries."""
        import boto3
        import botocore.config

        if self._session is None:
            self._session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
        config = botocore.config.Config(
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
            retries={"total_max_attempts": _ATTEMPTS, "mode": "standard"},
            max_pool_connections=self.parallelism * 2 + 2)
        try:
            return self._session.client(service, endpoint_url=self.endpoint_url, config=config)
        except ValueError as exc:  # botocore: "Invalid endpoint: localhost:4566"
            raise InputError(f"the aws target's endpoint_url {self.endpoint_url!r} is not a URL; write it as "
                             "http://host:port (or leave it empty for AWS itself)") from exc

    def close(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    # ------------------------------------------------------------------------------------ lock

    def lock(self, holder: str, wait: float) -> None:
        """Take the apply lock of this account and region: a lease on the token message of FIFO queue
        `topology-lock.fifo`.

        Receiving the token hides it for `lock_lease` seconds; a thread renews that every third of
        the lease while held. A FIFO queue returns no message of a group while another of the same
        group is in flight, so even two tokens (two first applies seeding at once) never make two
        holders. When the holder dies its renewals stop and SQS shows the token again within one lease."""
        if self._lease is not None:
            return
        url = self._lock_queue()
        deadline = time.monotonic() + max(0.0, wait)
        seeded = polled = False
        while True:
            remaining = deadline - time.monotonic()
            # The first receive does not wait: an empty queue (no token yet) is seeded at once.
            poll = max(0, min(20, int(remaining), int(self.read_timeout) - 1)) if polled else 0
            polled = True
            answer = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=self.lock_lease, WaitTimeSeconds=poll,
                MessageSystemAttributeNames=["SentTimestamp", "MessageGroupId"])
            messages = answer.get("Messages", [])
            if messages and not _is_token(messages[0]):  # the queue is reserved: anything else is thrown away
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
                continue
            if messages and self._token_is_old(messages[0]):
                self._send_token(url)  # queued behind the old token, whose delete then frees the group
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
                continue
            if messages:
                self._lease = _Lease(self, url, messages[0]["ReceiptHandle"])
                self.sqs.tag_queue(QueueUrl=url, Tags={"holder": _tag_value(holder)})
                return
            if not seeded and self._lock_queue_is_empty(url):
                self._send_token(url)  # the first apply ever on this account and region, or the token expired
                seeded = True
                continue
            if time.monotonic() >= deadline:
                raise LockedError(f"another apply holds the lock at {self.where} ({self._lock_holder(url)}); "
                                  f"waited {wait:g} s. Run again when it has finished; if it died, its lock frees "
                                  f"itself within {self.lock_lease} s")
            if poll == 0:
                time.sleep(min(0.2, max(0.0, remaining)))

    def _lock_queue(self) -> str:
        try:
            return str(self.sqs.get_queue_url(QueueName=LOCK_QUEUE)["QueueUrl"])
        except AwsRefused as exc:
            if exc.code not in _NO_QUEUE:
                raise
        return str(self.sqs.create_queue(QueueName=LOCK_QUEUE, tags={"managed-by": "topology"}, Attributes={
            "FifoQueue": "true", "MessageRetentionPeriod": "1209600"})["QueueUrl"])

    def _token_is_old(self, message: Mapping[str, Any]) -> bool:
        """A token older than 7 days is replaced, so that SQS's 14-day retention never drops a held one."""
        sent = int(message.get("Attributes", {}).get("SentTimestamp", 0) or 0) / 1000
        return bool(sent) and time.time() - sent > 7 * 86_400

    def _send_token(self, url: str) -> None:
        self.sqs.send_message(QueueUrl=url, MessageBody=_TOKEN_BODY, MessageGroupId=_LOCK_GROUP,
                              MessageDeduplicationId=uuid.uuid4().hex)

    def _lock_queue_is_empty(self, url: str) -> bool:
        raw = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(_COUNTS)).get("Attributes", {})
        return all(int(raw.get(k, 0)) == 0 for k in _COUNTS)

    def _lock_holder(self, url: str) -> str:
        try:
            tags = self.sqs.list_queue_tags(QueueUrl=url)
        except BrokerError:
            return "holder unknown"
        return str(tags.get("Tags", {}).get("holder") or "holder unknown")

    # --------------------------------------------------------------------------------- inspect

    def _queue_urls(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        token = None
        while True:
            kwargs: dict[str, Any] = {"MaxResults": 1000}
            if token:
                kwargs["NextToken"] = token
            page = self.sqs.list_queues(**kwargs)
            for url in page.get("QueueUrls", []):
                name = url.rstrip("/").rsplit("/", 1)[-1]
                if name != LOCK_QUEUE:  # the apply lock is topology's own, never a declared queue
                    urls[name] = url
            token = page.get("NextToken")
            if not token:
                return urls

    def _list_topics(self) -> dict[str, str]:
        arns: dict[str, str] = {}
        token = None
        while True:
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            page = self.sns.list_topics(**kwargs)
            for topic in page.get("Topics", []):
                arns[topic["TopicArn"].rsplit(":", 1)[-1]] = topic["TopicArn"]
            token = page.get("NextToken")
            if not token:
                return arns

    def inspect(self, selection: Selection) -> dict[str, Live]:
        live: dict[str, Live] = {}
        topics = _Lazy(self._list_topics)  # asked for once, when some queue's policy grants topics it does not name
        wants_sqs = selection.prune or any(a.startswith("sqs/") for a in selection.addresses)
        if wants_sqs:
            urls = self._queue_urls()
            self._urls.update(urls)
            names = [n for n in sorted(urls) if selection.wants(f"sqs/queue/{n}")]
            with reading_pool(self.parallelism) as pool:
                queues = pool.map(lambda n: self._inspect_queue(n, urls[n], topics, selection), names)
                for name, item in zip(names, queues, strict=True):
                    if item is not None:
                        live[f"sqs/queue/{name}"] = item
        wants_sns = selection.prune or any(a.startswith("sns/") for a in selection.addresses)
        if wants_sns:
            arns = topics.get()
            self._topic_arns.update(arns)
            names = [n for n in sorted(arns) if selection.wants(f"sns/topic/{n}")
                     or any(a.startswith(f"sns/subscription/{n}->") for a in selection.addresses)]
            with reading_pool(self.parallelism) as pool:
                for found in pool.map(lambda n: self._inspect_topic(n, arns[n], selection), names):
                    live.update(found)
        if wants_alarms(selection):
            live.update(inspect_alarms(self.cloudwatch, selection, self.parallelism))
        return {address: item for address, item in live.items() if selection.wants(address)}

    def comparable(self, desired: Mapping[str, Resource], live: Mapping[str, Live]) -> Mapping[str, Live]:
        """An alarm's SNS topics of this account by ARN where the file writes them so (read by name)."""
        alarms = [a for a, item in live.items() if item.kind == ALARM and a in desired]
        if not alarms:
            return live
        result = dict(live)
        for address in alarms:
            item = live[address]
            result[address] = Live(item.kind, in_file_words(item.attributes, desired[address].attributes, self.region),
                                   item.depends_on, item.messages, name=item.name, scope=item.scope)
        return result

    def health(self, watches: Sequence[Watch]) -> list[Reading]:
        """SQS's counts of each watched queue: visible (depth), in flight and delayed; see `health`."""
        if not watches:
            return []
        return read_health(self.sqs, self._url, self._urls.forget, watches, self.parallelism)

    def _inspect_queue(self, name: str, url: str, topics: _Lazy, selection: Selection) -> Live | None:
        try:
            raw = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
            tags = self.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) \
                if selection.reads(f"sqs/queue/{name}", "tags") else {}
        except AwsRefused as exc:
            if exc.code in _NO_QUEUE:
                return None  # deleted since it was listed
            raise
        arn = raw.get("QueueArn", "")
        self._queue_arns.put(name, arn)
        attributes = wire.parse_queue(raw)
        granted = self._granted_topics(policy.parse(raw.get("Policy")), arn, topics)
        if granted:
            attributes["allow_sns_topics"] = granted
        if tags:
            attributes["tags"] = dict(tags)
        messages = sum(int(raw.get(k, 0)) for k in _COUNTS)
        depends = (f"sqs/queue/{attributes['RedrivePolicy']['deadLetterQueue']}",) \
            if "RedrivePolicy" in attributes else ()
        return Live("sqs.queue", attributes, depends, messages, name=name)

    def _granted_topics(self, document: dict[str, Any] | None, queue_arn: str, topics: _Lazy) -> list[str]:
        """The topics of this account and region the queue's policy lets send to it, whoever wrote the
        statement (the AWS documentation's fan-out statement, with any Sid, counts as topology's own)."""
        if document is None:
            return []
        named, open_ended = policy.mentioned_topics(document)
        candidates = named | (set(topics.get().values()) if open_ended else set())
        region, account = queue_arn.split(":")[3:5] if queue_arn.count(":") >= 5 else ("", "")
        granted = policy.granted_topics(document, queue_arn, candidates)
        names = [wire.local_name(arn, account, region) for arn in granted]
        return sorted(n for n in names if not n.startswith("arn:"))

    def _inspect_topic(self, name: str, arn: str, selection: Selection) -> dict[str, Live]:
        declared = selection.addresses
        raw = self.sns.get_topic_attributes(TopicArn=arn).get("Attributes", {})
        tags = self.sns.list_tags_for_resource(ResourceArn=arn) if selection.reads(f"sns/topic/{name}", "tags") \
            else {}
        attributes = wire.parse_topic(raw)
        tag_map = {t["Key"]: t["Value"] for t in tags.get("Tags", [])}
        if tag_map:
            attributes["tags"] = tag_map
        found = {f"sns/topic/{name}": Live("sns.topic", attributes, name=name)}
        region, account = arn.split(":")[3:5]
        for subscription in self._list_subscriptions(arn):
            item = self._inspect_subscription(subscription, name, account, region, declared)
            found[f"sns/subscription/{item.name}"] = item
        return found

    def _inspect_subscription(self, listed: Mapping[str, str], topic: str, account: str, region: str,
                              declared: frozenset[str]) -> Live:
        """One subscription of `topic`: a queue of this account and region by its name (by its ARN where
        the files declare it so), any other endpoint as it is; one pending confirmation (SNS lists it
        without an ARN, so nothing more can be read of it, nor can it be removed) only as such."""
        protocol, endpoint, arn = listed.get("Protocol", ""), listed.get("Endpoint", ""), listed["SubscriptionArn"]
        attributes: dict[str, Any] = {"topic": topic}
        if protocol == "sqs":
            if f"sns/subscription/{subscription_name(topic, protocol, endpoint)}" not in declared:
                endpoint = wire.local_name(endpoint, account, region)
            attributes["queue"] = endpoint
        else:  # an endpoint's password never enters an address, a plan or an export
            if wire.credentialed(endpoint):
                endpoint, attributes[wire.CREDENTIALED] = wire.masked(endpoint), True
            attributes.update({"protocol": protocol, "endpoint": endpoint})
        name = subscription_name(topic, protocol, endpoint)
        if not arn.startswith("arn:"):
            attributes[_PENDING] = True
        else:
            raw = self.sns.get_subscription_attributes(SubscriptionArn=arn).get("Attributes", {})
            attributes.update(wire.parse_subscription(raw, lambda a: wire.local_name(a, account, region)))
            self._subscription_arns.put(f"sns/subscription/{name}", arn)
        depends = [f"sns/topic/{topic}"]
        if protocol == "sqs" and not endpoint.startswith("arn:"):
            depends.append(f"sqs/queue/{endpoint}")
        dlq = attributes.get("RedrivePolicy", {}).get("deadLetterQueue", "arn:")
        if not dlq.startswith("arn:"):
            depends.append(f"sqs/queue/{dlq}")
        return Live("sns.subscription", attributes, tuple(depends), name=name)

    # ----------------------------------------------------------------------------------- apply

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        def run(change: Change) -> ChangeResult:
            if (unstarted := self.unstarted(change)) is not None:
                return unstarted
            if self._lease is not None and not self._lease.held():
                return ChangeResult(change.address, False, f"the apply lock at {self.where} could not be renewed "
                                    "for a whole lease, so another apply may hold it now; nothing more was changed. "
                                    "Run `topology plan` again")
            try:
                handler = {"sqs.queue": self._apply_queue, "sns.topic": self._apply_topic,
                           "sns.subscription": self._apply_subscription, ALARM: self._apply_alarm}.get(change.kind)
                if handler is None:
                    raise BrokerError(f"the AWS driver does not manage {change.kind}")
                if change.needs_empty and change.kind == "sqs.queue":
                    held = self._messages_now(change.name)
                    if held:
                        return refused_not_empty(change, f"about {held:,} message{'' if held == 1 else 's'} "
                                                 "(SQS's approximate count: visible, in flight and delayed)")
                handler(change)
                return ChangeResult(change.address, True)
            except BrokerError as exc:
                return ChangeResult(change.address, False, str(exc))

        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            return list(pool.map(run, changes))

    def _messages_now(self, name: str) -> int:
        """What the queue holds now by SQS's three approximate counts (visible, in flight, delayed);
        0 for a queue that no longer exists. An unreadable count raises: the change is not made."""
        try:
            raw = self.sqs.get_queue_attributes(QueueUrl=self._url(name), AttributeNames=list(_COUNTS)).get(
                "Attributes", {})
        except AwsRefused as exc:
            if exc.code in _NO_QUEUE:
                return 0
            raise
        return sum(int(raw.get(k, 0)) for k in _COUNTS)

    def _apply_alarm(self, change: Change) -> None:
        apply_alarm(self.cloudwatch, change.action, change.name, change.after, self._topic_arn)

    def _account_id(self) -> str:
        """The account the ARNs name: from an ARN already seen, else from STS (asked once)."""
        return self._account.get("id", self._look_up_account)

    def _look_up_account(self) -> str:
        known = self._queue_arns.first() or self._topic_arns.first() or \
            str(self._client("sts").get_caller_identity()["Arn"])
        parts = known.split(":")
        if len(parts) < 6 or not parts[4]:
            raise BrokerError(f"{self.where} answered with `{known}` where an ARN naming the account was expected; "
                              "check that endpoint_url points at an SQS/SNS endpoint")
        return parts[4]

    def _queue_arn(self, name: str) -> str:
        return self._queue_arns.peek(name) or f"arn:aws:sqs:{self.region}:{self._account_id()}:{name}"

    def _topic_arn(self, name: str) -> str:
        return self._topic_arns.peek(name) or f"arn:aws:sns:{self.region}:{self._account_id()}:{name}"

    def _url(self, name: str) -> str:
        return self._urls.get(name, lambda: str(self.sqs.get_queue_url(QueueName=name)["QueueUrl"]))

    def _subscription_arn(self, address: str, topic: str, protocol: str, endpoint: str) -> str | None:
        """The ARN of the subscription at `address` (seen by inspect, made here, or looked up on its
        topic); None when the topic has no such subscription, or is gone. One pending confirmation has
        no ARN to be found: that is said in one sentence."""
        def look_up() -> str:
            try:
                subscriptions = self._list_subscriptions(self._topic_arn(topic))
            except AwsRefused as exc:
                if exc.code == "NotFound":
                    return ""
                raise
            found = [s["SubscriptionArn"] for s in subscriptions
                     if s.get("Protocol") == protocol and s.get("Endpoint") == self._endpoint_arn(protocol, endpoint)]
            if found and not any(arn.startswith("arn:") for arn in found):
                raise BrokerError(f"{address} is pending confirmation: SNS gives no ARN to change or remove it "
                                  "until its endpoint confirms it; confirm it (or let SNS expire it), then plan again")
            return next((arn for arn in found if arn.startswith("arn:")), "")

        return self._subscription_arns.get(address, look_up) or None

    def _queue_wire(self, name: str, attributes: Mapping[str, Any],
                    live_policy: dict[str, Any] | None) -> dict[str, str]:
        """Our attributes as the strings SQS takes. The policy, when the file declares one or lets topics
        send: the declared policy (else `live_policy`, the queue's own) with one statement for each
        topic that no statement there lets send already; every other statement is kept as it is."""
        result: dict[str, str] = {}
        for key, value in attributes.items():
            if key in _NOT_SENT or key == "Policy":
                continue
            if key == "RedrivePolicy":
                result[key] = json.dumps({"deadLetterTargetArn": self._queue_arn(value["deadLetterQueue"]),
                                          "maxReceiveCount": value["maxReceiveCount"]})
            elif key == "RedriveAllowPolicy":
                document: dict[str, Any] = {"redrivePermission": value["redrivePermission"]}
                if value["sourceQueues"]:
                    document["sourceQueueArns"] = [q if q.startswith("arn:") else self._queue_arn(q)
                                                   for q in value["sourceQueues"]]
                result[key] = json.dumps(document)
            else:
                result[key] = wire.text(value)
        if "Policy" in attributes or "allow_sns_topics" in attributes:
            merged = policy.merged(attributes.get("Policy", live_policy), self._queue_arn(name),
                                   [self._topic_arn(t) for t in attributes.get("allow_sns_topics", [])])
            if merged is not None or live_policy is not None:
                result["Policy"] = json.dumps(merged) if merged is not None else ""
        return result

    def _apply_queue(self, change: Change) -> None:
        name = change.name
        if change.action in ("delete", "replace"):
            try:
                self.sqs.delete_queue(QueueUrl=self._url(name))
            except AwsRefused as exc:
                if exc.code not in _NO_QUEUE:
                    raise
            self._urls.forget(name)
            if change.action == "delete":
                return
        after = change.after or {}
        if change.action in ("create", "replace"):
            attributes = self._queue_wire(name, after, None)
            if after.get("FifoQueue") is False:
                attributes.pop("FifoQueue", None)  # standard queues must not send FifoQueue=false to AWS
            self._create_queue(name, attributes, {**after.get("tags_on_create", {}), **after.get("tags", {})})
            return
        self._update_queue(change)

    def _update_queue(self, change: Change) -> None:
        """SetQueueAttributes with the changed attributes, read back until SQS shows them, then TagQueue.
        The policy goes with them whenever the queue has one: moto's SetQueueAttributes drops a policy it
        is not given (AWS keeps it), and sending the queue's own back is right on both."""
        name, after, before = change.name, change.after or {}, change.before or {}
        changed = {a.name for a in change.attributes}
        sent = {k: v for k, v in after.items() if k in changed and k != "tags"}
        if sent and ("Policy" in before or "allow_sns_topics" in before or changed & {"Policy", "allow_sns_topics"}):
            raw = self.sqs.get_queue_attributes(QueueUrl=self._url(name), AttributeNames=["Policy"]).get(
                "Attributes", {}).get("Policy")
            live = policy.parse(raw)
            if changed & {"Policy", "allow_sns_topics"}:
                sent.update({k: after[k] for k in ("Policy", "allow_sns_topics") if k in after})
                attributes = self._queue_wire(name, sent, live)
            else:
                attributes = {**self._queue_wire(name, sent, None), **({"Policy": raw} if raw else {})}
        else:
            attributes = self._queue_wire(name, sent, None)
        if attributes:
            self.sqs.set_queue_attributes(QueueUrl=self._url(name), Attributes=attributes)
            self._read_back(name, {k: after[k] for k in changed if k not in _NOT_SENT})
        if "tags" in changed:
            self.sqs.tag_queue(QueueUrl=self._url(name), Tags=after["tags"])

    def _create_queue(self, name: str, attributes: dict[str, str], tags: dict[str, str]) -> None:
        deadline = time.monotonic() + _DELETED_RECENTLY_WAIT_S
        told = False
        while True:
            try:
                url = self.sqs.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]
                break
            except AwsRefused as exc:
                code = exc.code
                if code in ("AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently") and \
                        time.monotonic() < deadline:
                    if not told:
                        print(f"    sqs/queue/{name}: deleted less than 60 s ago; waiting until SQS accepts the "
                              "name again", file=sys.stderr)
                        told = True
                    time.sleep(2)
                    continue
                if code in ("QueueAlreadyExists", "QueueNameExists"):
                    raise BrokerError(f"sqs/queue/{name} exists with other attributes; plan again") from exc
                raise
        self._urls.put(name, url)

    def _read_back(self, name: str, expected: Mapping[str, Any]) -> None:
        """SQS applies attribute changes eventually: read them back until they agree (bounded)."""
        names = [*expected, "QueueArn"] if expected else ["All"]
        for _ in range(_READ_BACK_TRIES):
            raw = self.sqs.get_queue_attributes(QueueUrl=self._url(name), AttributeNames=names).get("Attributes", {})
            parsed = wire.parse_queue(raw)
            if all(same(parsed.get(k), v) for k, v in expected.items()):
                return
            time.sleep(0.2)
        raise BrokerError(f"sqs/queue/{name}: SetQueueAttributes was accepted but the queue does not show it yet; "
                          "plan again in a minute")

    def _apply_topic(self, change: Change) -> None:
        name = change.name
        if change.action in ("delete", "replace"):
            try:
                self.sns.delete_topic(TopicArn=self._topic_arn(name))
            except AwsRefused as exc:
                if exc.code != "NotFound":
                    raise
            self._topic_arns.forget(name)
            if change.action == "delete":
                return
        after = change.after or {}
        if change.action in ("create", "replace"):
            tagged = {**after.get("tags_on_create", {}), **after.get("tags", {})}
            tags = [{"Key": k, "Value": v} for k, v in tagged.items()]
            arn = self.sns.create_topic(Name=name, Attributes=wire.topic_wire(after), Tags=tags)["TopicArn"]
            self._topic_arns.put(name, arn)
            return
        arn = self._topic_arn(name)
        for attribute in change.attributes:
            if attribute.name == "tags":
                tags = [{"Key": k, "Value": v} for k, v in after["tags"].items()]
                self.sns.tag_resource(ResourceArn=arn, Tags=tags)
            elif attribute.name != "tags_on_create":
                self.sns.set_topic_attributes(TopicArn=arn, AttributeName=attribute.name,
                                              AttributeValue=wire.text(attribute.after))

    def _endpoint_arn(self, protocol: str, endpoint: str) -> str:
        """What SNS calls the endpoint: a queue's ARN for a queue named here; any other endpoint as it is."""
        return self._queue_arn(endpoint) if protocol == "sqs" and not endpoint.startswith("arn:") else endpoint

    def _apply_subscription(self, change: Change) -> None:
        after = change.after or {}
        data = after or change.before or {}
        protocol, endpoint = _protocol_endpoint(data)
        if change.action in ("delete", "replace"):
            arn = self._subscription_arn(change.address, data["topic"], protocol, endpoint)
            if arn:
                self.sns.unsubscribe(SubscriptionArn=arn)
                self._subscription_arns.forget(change.address)
            if change.action == "delete":
                return
        if change.action in ("create", "replace"):
            self._subscribe(change.address, data["topic"], protocol, endpoint, self._subscription_wire(after))
            return
        self._update_subscription(change)

    def _subscription_wire(self, attributes: Mapping[str, Any]) -> dict[str, str]:
        """A subscription's attributes as the strings SNS takes (a queue's raw delivery always)."""
        result: dict[str, str] = {}
        if "queue" in attributes or "RawMessageDelivery" in attributes:
            result["RawMessageDelivery"] = wire.text(bool(attributes.get("RawMessageDelivery")))
        if "FilterPolicy" in attributes:
            result["FilterPolicy"] = json.dumps(attributes["FilterPolicy"])
            result["FilterPolicyScope"] = attributes.get("FilterPolicyScope", "MessageAttributes")
        if "RedrivePolicy" in attributes:
            dlq = attributes["RedrivePolicy"]["deadLetterQueue"]
            arn = dlq if dlq.startswith("arn:") else self._queue_arn(dlq)
            result["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn})
        for key in ("DeliveryPolicy", "SubscriptionRoleArn"):
            if key in attributes:
                result[key] = wire.text(attributes[key])
        return result

    def _subscribe(self, address: str, topic: str, protocol: str, endpoint: str, attributes: Mapping[str, str]) -> None:
        """Subscribe with every attribute in the one call, so the subscription never exists without its
        filter policy; if anything fails after SNS may have made it (moto makes it, then refuses the
        filter; an answer can be lost), what was made for this endpoint is unsubscribed again."""
        topic_arn = self._topic_arn(topic)
        target = self._endpoint_arn(protocol, endpoint)
        arn: str | None = None
        try:
            arn = self.sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=target,
                                     Attributes=dict(attributes), ReturnSubscriptionArn=True)["SubscriptionArn"]
            if "FilterPolicy" in attributes:
                self._check_filter(arn, attributes)
        except BrokerError as exc:
            if isinstance(exc, AwsRefused) and "already exists" in str(exc).lower():
                raise  # someone else's subscription: not ours to remove
            removed = self._unsubscribe_made(topic_arn, protocol, target, arn)
            raise BrokerError(f"{exc}; {removed}") from exc
        self._subscription_arns.put(address, arn)

    def _check_filter(self, arn: str, attributes: Mapping[str, str]) -> None:
        raw = self.sns.get_subscription_attributes(SubscriptionArn=arn).get("Attributes", {})
        found = json.loads(raw["FilterPolicy"]) if raw.get("FilterPolicy") else None
        if found != json.loads(attributes["FilterPolicy"]) or \
                raw.get("FilterPolicyScope", "MessageAttributes") != attributes["FilterPolicyScope"]:
            raise BrokerError(f"SNS at {self.where} made the subscription without the declared filter policy")

    def _unsubscribe_made(self, topic_arn: str, protocol: str, endpoint: str, arn: str | None) -> str:
        """Unsubscribe what a failed create made (`arn`, or whatever this endpoint has on the topic when
        the answer was lost); says what became of it."""
        try:
            made = [arn] if arn else [s["SubscriptionArn"] for s in self._list_subscriptions(topic_arn)
                                      if s.get("Endpoint") == endpoint and s.get("Protocol") == protocol
                                      and s["SubscriptionArn"].startswith("arn:")]
            for found in made:
                self.sns.unsubscribe(SubscriptionArn=found)
        except BrokerError as exc:
            return (f"the subscription may exist without its filter, and removing it failed too ({exc}); "
                    "delete it by hand")
        return "the subscription was removed again" if made else "no subscription was made"

    def _list_subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token = None
        while True:
            kwargs: dict[str, Any] = {"TopicArn": topic_arn, **({"NextToken": token} if token else {})}
            page = self.sns.list_subscriptions_by_topic(**kwargs)
            found += page.get("Subscriptions", [])
            token = page.get("NextToken")
            if not token:
                return found

    def _update_subscription(self, change: Change) -> None:
        """Subscribe does not change an existing subscription: set each changed attribute, the filter
        policy and its scope first, in the order SNS accepts (a nested policy needs the MessageBody
        scope first; back to MessageAttributes, the flat policy goes first). When SNS refuses one, those
        already set go back to what they were, so a refused filter leaves the old one in place."""
        data = change.after or {}
        protocol, endpoint = _protocol_endpoint(data)
        arn = self._subscription_arn(change.address, data["topic"], protocol, endpoint)
        if arn is None:
            raise BrokerError(f"SNS at {self.where} has no subscription {change.address.removeprefix('sns/')} any "
                              "more; run `topology plan` again")
        after = self._subscription_wire(change.after or {})
        before = self._subscription_wire(change.before or {})
        to_body = after.get("FilterPolicyScope") == "MessageBody"
        first = ("FilterPolicyScope", "FilterPolicy") if to_body else ("FilterPolicy", "FilterPolicyScope")
        names = sorted({a.name for a in change.attributes},
                       key=lambda n: (first.index(n) if n in first else len(first), n))
        done: list[str] = []
        for name in names:
            value = after.get(name, "" if name == "FilterPolicy" else None)
            if value is None:
                continue
            try:
                self._set_subscription_attribute(arn, name, value)
            except BrokerError as exc:
                undone = self._restore_subscription(arn, done, before)
                raise BrokerError(f"{exc}; {undone}") from exc
            done.append(name)

    def _set_subscription_attribute(self, arn: str, name: str, value: str) -> None:
        self.sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName=name, AttributeValue=value)

    def _restore_subscription(self, arn: str, done: Sequence[str], before: Mapping[str, str]) -> str:
        try:
            for name in reversed(done):
                self._set_subscription_attribute(arn, name, before.get(
                    name, "MessageAttributes" if name == "FilterPolicyScope" else ""))
        except BrokerError as exc:
            return f"putting back {', '.join(done)} failed too ({exc}); check the subscription by hand"
        return "the subscription keeps its previous attributes" if done else \
            "the subscription keeps its previous filter policy and attributes"


def _protocol_endpoint(attributes: Mapping[str, Any]) -> tuple[str, str]:
    """A subscription's protocol and endpoint: a queue (by name or ARN) is protocol sqs."""
    if "queue" in attributes:
        return "sqs", str(attributes["queue"])
    return str(attributes["protocol"]), str(attributes["endpoint"])


def _tag_value(text: str) -> str:
    """`text` as an SQS tag value: at most 256 of the characters tags allow."""
    allowed = set("_.:/=+-@ ")
    return "".join(c if c.isalnum() or c in allowed else "_" for c in text)[:256]


class _Lease:
    """The lock token, held: renewed in the background until released; SQS frees it if renewals stop."""

    def __init__(self, driver: AwsDriver, url: str, receipt: str) -> None:
        self._driver, self._url, self._receipt = driver, url, receipt
        self._held_until = time.monotonic() + driver.lock_lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="topology-aws-lock", daemon=True)
        self._thread.start()

    def held(self) -> bool:
        """Whether the lease is surely still ours (renewed within one lease, with a second to spare)."""
        return time.monotonic() < self._held_until - 1

    def _renew(self) -> None:
        lease = self._driver.lock_lease
        while not self._stop.wait(max(0.5, lease / 3)):
            started = time.monotonic()
            try:
                self._driver.sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=self._receipt,
                                                           VisibilityTimeout=lease)
            except BrokerError:
                continue  # not renewed: `held` turns false when the lease runs out, and apply stops
            self._held_until = started + lease

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self._driver.sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=self._receipt,
                                                       VisibilityTimeout=0)
        except BrokerError as exc:
            print(f"warning: {exc}; the apply lock frees itself within {self._driver.lock_lease} s",
                  file=sys.stderr)
