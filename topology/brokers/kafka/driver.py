"""The Kafka driver: confluent-kafka's AdminClient, and kafka-python for what it lacks.

Reads in bulk: one metadata request for topics, partitions and replicas, one DescribeConfigs for
every topic in scope (only DYNAMIC_TOPIC_CONFIG entries count as declared config; from a thousand
topics kafka-python's, without synonyms, a thousand topics a request, pipelined), ACLs by one
filter, groups by id and their committed offsets all requested at once, every SCRAM credential by
one DescribeUserScramCredentials, every client quota by one DescribeClientQuotas. Writes in
batches: one CreateTopics for all new topics; CreatePartitions for growth; IncrementalAlterConfigs
SET and DELETE (so a key removed from the file loses its override); AlterPartitionReassignments for
a new replication factor; consumer groups created by committing their initial offsets, never moved
afterwards; AlterUserScramCredentials (one change per user in a request: Kafka refuses two);
AlterClientQuotas for every quota entity at once. After every kind of write the driver waits
(bounded) until each broker reports it, so the very next plan is empty: brokers apply metadata
changes one after the other.

ACLs and quotas go through kafka-python's protocol classes (Kafka's own requests, codes as Kafka
numbers them): librdkafka knows neither client quotas nor the ACL resource types `user` and
`delegation_token` and the operations `create_tokens`, `describe_tokens` and `two_phase_commit`.
SCRAM credentials go through librdkafka, which salts and hashes the password on this side; Kafka
never gives a password back (DescribeUserScramCredentials says only mechanism and iterations), so
a credential's password is written when apply creates it or changes its iterations, and a plan
cannot tell whether the live one is the file's.

Changes planned as losing nothing (`needs_empty`) are re-checked at the moment they are carried
out: a topic must still hold no messages (end minus beginning offset over its partitions), a
group no committed offsets. Kafka has no conditional delete, so this is a check just before.

Errors at the boundary, one way: every request of either client runs inside `_translating`, which
turns what the client raises into one of topology's errors by the `_ANSWERS` table (Kafka's error
names) or, when the cluster was not reached, by what librdkafka saw of its connections (`_Events`);
one sentence naming the cluster and what topology was doing, the original chained. The driver
connects lazily: the first call that needs the cluster connects.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from topology.brokers.base import ChangeResult, Driver, Live, Selection, may_reach, refused_not_empty
from topology.brokers.kafka import access
from topology.brokers.kafka.config import (
    ACL_FIELDS,
    ACL_OPERATIONS,
    ACL_PATTERNS,
    ACL_PERMISSIONS,
    ACL_RESOURCE_TYPES,
    DEFAULT_ENTITY,
    TOPIC_CONFIG,
    acl_address,
    normalise_quota,
    quota_address,
    scram_address,
)
from topology.brokers.kafka.health import read_health
from topology.core.monitor import Reading, Watch
from topology.core.resource import Resource, same
from topology.core.secrets import scrub
from topology.engine.plan import Change
from topology.errors import BrokerError, BrokerUnavailable, InputError, LockedError

__all__ = ["KafkaDriver"]

_WAIT_S = 60.0
_KAFKA_PYTHON_FROM = 1000  # topics in scope from which kafka-python's DescribeConfigs repays importing it
_DESCRIBE_BATCH = 1000  # topics per DescribeConfigs: a bounded answer (about 2 MB) whatever the cluster holds
_IN_FLIGHT = 4  # requests pipelined on one connection (kafka-python allows 5)
_LOCK = "__topology.lock"  # the lock topic and group; names starting with `__` are never inspected
_LOCK_SESSION_MS = 6000  # Kafka's default group.min.session.timeout.ms: a dead holder is gone this soon
_SECRET_WORDS = ("password", "secret", "jaas", "token", ".pem")
_RETRIABLE = ("NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PART", "NOT_COORDINATOR",
              "COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS", "REBALANCE_IN_PROGRESS")
_T = TypeVar("_T")

# ------------------------------------------------------------------------- errors at the boundary

# Kafka's answers (error names, as either client gives them) that mean something particular, and the
# error and sentence each becomes. {where}: "Kafka at <bootstrap>"; {doing}: what topology was doing.
_AUTHENTICATION = (BrokerUnavailable, "{where} rejected topology's credentials while {doing} (authentication "
                                      "failed); check sasl.mechanism, sasl.username and sasl.password")
_AUTHORIZATION = (BrokerError, "{where} denied topology's principal while {doing} (authorization failed); grant it "
                               "the needed ACLs")
_ANSWERS: dict[str, tuple[type[BrokerError], str]] = {
    "SASL_AUTHENTICATION_FAILED": _AUTHENTICATION, "_AUTHENTICATION": _AUTHENTICATION,
    "TOPIC_AUTHORIZATION_FAILED": _AUTHORIZATION, "CLUSTER_AUTHORIZATION_FAILED": _AUTHORIZATION,
    "GROUP_AUTHORIZATION_FAILED": _AUTHORIZATION,
    "SECURITY_DISABLED": (BrokerError, "the Kafka cluster at {bootstrap} has no authorizer, so ACLs cannot be "
                                       "managed: set authorizer.class.name on the brokers, or remove the `acls:` "
                                       "section"),
    "NON_EMPTY_GROUP": (BrokerError, "{where}: {doing} failed: the group still has members; stop them first"),
}
# Errors that mean the cluster was not reached, or did not answer as Kafka: what librdkafka saw of its
# connections says why (see _Events). librdkafka's names, then kafka-python's (class names).
_UNREACHED = frozenset({"_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_RESOLVE", "_SSL", "REQUEST_TIMED_OUT",
                        "KafkaConnectionError", "NodeNotReadyError", "NoBrokersAvailable", "KafkaTimeoutError",
                        "OSError", "TimeoutError", "ConnectionError"})
_TIMED_OUT = frozenset({"_TIMED_OUT", "REQUEST_TIMED_OUT", "KafkaTimeoutError", "TimeoutError"})


@functools.cache
def _client_errors() -> tuple[type[Exception], ...]:
    """What the two client libraries raise when Kafka fails or refuses (socket errors included)."""
    import kafka.errors
    from confluent_kafka import KafkaException

    return KafkaException, kafka.errors.KafkaError, OSError


def _error_name(exc: Exception) -> tuple[str | None, str]:
    """The error's name (TOPIC_ALREADY_EXISTS, _TRANSPORT, KafkaConnectionError), None when the client
    gave none, and its details for a sentence."""
    import kafka.errors
    from confluent_kafka import KafkaError

    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return str(error.name()), f"{error.name()}: {error.str()}"
    if isinstance(exc, kafka.errors.BrokerResponseError):  # the broker's own words when it gave some
        return str(exc.message), f"{exc.message}: {exc.args[0] if exc.args and exc.args[0] else exc.description}"
    if isinstance(exc, kafka.errors.KafkaError | OSError):
        return type(exc).__name__, f"{type(exc).__name__}: {exc}"
    return None, str(exc)


def _settled(first: Callable[[], _T], again: Callable[[], _T], deadline: float) -> _T:
    """`first()`, then `again()` while Kafka says the error will pass (a coordinator still loading, a
    leader being elected), until `deadline`; the last error is raised as the client raised it."""
    from confluent_kafka import KafkaException

    call = first
    while True:
        try:
            return call()
        except KafkaException as exc:
            if not _retriable(exc.args[0] if exc.args else None) or time.monotonic() > deadline:
                raise
        time.sleep(0.3)
        call = again


def _normalise_live_config(config: Mapping[str, str]) -> dict[str, str]:
    normalised = {}
    for key, value in config.items():
        setting = TOPIC_CONFIG.get(key)
        try:
            normalised[key] = setting.parse(value) if setting else value
        except ValueError:
            normalised[key] = value
    return normalised


def _ready(topics: Mapping[str, Any], name: str) -> bool:
    """Listed without error, and every partition has a leader (so offsets can be read and committed)."""
    topic = topics.get(name)
    return topic is not None and not topic.error and bool(topic.partitions) and all(
        p.leader >= 0 and not p.error for p in topic.partitions.values())


def _led(topic: Mapping[str, Any] | None) -> bool:
    """`_ready` for a topic in kafka-python's metadata answer of one broker (listed without error)."""
    return topic is not None and bool(topic["partitions"]) and all(
        p["leader_id"] >= 0 and not p["error_code"] for p in topic["partitions"])


def _retriable(error: Any) -> bool:
    """Worth asking again: Kafka says so, or it is a coordinator or leader still settling."""
    from confluent_kafka import KafkaError

    return isinstance(error, KafkaError) and (error.retriable() or error.name() in _RETRIABLE or not error.str())


def _is_secret(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _plural(count: int, unit: str) -> str:
    return f"{count:,} {unit}" + ("" if count == 1 else "s")


def _changes(change: Change, attribute: str) -> bool:
    return any(a.name == attribute for a in change.attributes)


def _growth(changes: Iterable[Change]) -> dict[str, int]:
    """The topics whose partition count grows, and to how many (a count never shrinks: check refuses it)."""
    return {c.name: int((c.after or {})["partitions"]) for c in changes if _changes(c, "partitions")
            and (c.after or {}).get("partitions", 0) > (c.before or {}).get("partitions", 0)}


_BATCHED = {"kafka.acl": "ACLs", "kafka.scram_credential": "SCRAM", "kafka.quota": "quotas"}


def _may_want(selection: Selection, prefix: str) -> bool:
    """Whether `selection` may want an address starting with `prefix`: one is declared, or an include
    glob's literal start (up to its first wildcard) agrees with it."""
    if any(a.startswith(prefix) for a in selection.addresses):
        return True
    return selection.prune and any(may_reach(glob, prefix) for glob in selection.include)


def _batches(changes: Iterable[Change]) -> dict[str, list[Change]]:
    """Changes by how apply makes them: topics created, deleted and updated in batches, ACLs, SCRAM
    credentials and quotas each together, the rest (consumer groups) one by one; each batch in plan order."""
    batches: dict[str, list[Change]] = {"create topics": [], "delete topics": [], "update topics": [], "ACLs": [],
                                        "SCRAM": [], "quotas": [], "one by one": []}
    for change in changes:
        if change.kind == "kafka.topic":
            batches[{"create": "create topics", "delete": "delete topics"}.get(change.action, "update topics")]\
                .append(change)
        else:
            batches[_BATCHED.get(change.kind, "one by one")].append(change)
    return batches


# ----------------------------------------------------------------------------- what the client saw


def _destroy(client: Any) -> None:
    """Destroy a confluent-kafka client now, on this thread. Left to Python, a client still referenced
    from a cycle (an error's traceback holds the frames that used it) is destroyed by whichever thread the
    next garbage collection starts in; when that is one of librdkafka's own (a future's callback runs
    Python there), librdkafka aborts the process. A destroyed client is inert, wherever it ends."""
    client.__exit__(None, None, None)


class _Events:
    """What librdkafka reported about its connections (served by poll), to say why a call failed."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()
        self.logger = logging.getLogger(f"topology.kafka.client.{id(self)}")
        self.logger.handlers = [_Collect(self)]
        self.logger.propagate = False
        self.logger.setLevel(logging.WARNING)

    def add(self, text: str) -> None:
        with self.lock:
            self.seen = [*self.seen[-50:], text]

    def error(self, error: Any) -> None:
        self.add(f"{error.name()}: {error.str()}")

    def diagnosis(self, connect_timeout: float) -> str | None:
        """What to do, from the most telling connection failure seen; None when nothing was seen."""
        with self.lock:
            seen = list(self.seen)
        for needle, advice in (
                ("connecting to a PLAINTEXT broker listener",
                 "the port answered as plaintext, not TLS: check security.protocol (PLAINTEXT or "
                 "SASL_PLAINTEXT for this port), or point bootstrap_servers at the broker's TLS listener"),
                ("Request not valid in current SASL state",
                 "the port does not do SASL (it answered as plaintext): check security.protocol (PLAINTEXT "
                 "for this port), or point bootstrap_servers at the broker's SASL listener"),
                ("SSL handshake failed",
                 "the TLS handshake failed: check ssl.ca.location and that the port is the broker's TLS listener"),
                ("Authentication failed",
                 "it rejected topology's credentials: check sasl.mechanism, sasl.username and sasl.password"),
                ("_AUTHENTICATION", "authentication failed: check the target's SASL settings"),
                ("Connection setup timed out",
                 f"it accepted the connection but did not answer as Kafka within {connect_timeout:g}s: check "
                 "that bootstrap_servers names a Kafka listener and that security.protocol matches it"),
                ("Connection refused", "the connection was refused: check bootstrap_servers and that the "
                                       "cluster is running"),
                ("Failed to resolve", "the host name does not resolve: check bootstrap_servers")):
            if any(needle in text for text in seen):
                return advice
        if any(text.startswith("_ALL_BROKERS_DOWN") for text in seen):
            return "no broker answered: check bootstrap_servers and that the cluster is running"
        return None

    def decisive(self) -> bool:
        """Nothing more will come of waiting: every broker is down, or the protocol does not match."""
        with self.lock:
            seen = list(self.seen)
        return any(text.startswith(("_ALL_BROKERS_DOWN", "_AUTHENTICATION", "_SSL")) or "handshake failed" in text
                   for text in seen)


class _Collect(logging.Handler):
    def __init__(self, events: _Events) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.add(record.getMessage())


# ------------------------------------------------------------------------------------------ driver


# Client settings the target's own fields give: a value in `config:` would be silently overridden.
_SET_BY_TARGET = {"bootstrap.servers": "bootstrap_servers", "socket.connection.setup.timeout.ms": "connect_timeout",
                  "socket.timeout.ms": "timeout", "logger": "nothing", "error_cb": "nothing"}


class KafkaDriver(Driver):
    """One Kafka cluster. Connects lazily: the first call that needs the cluster connects (bounded by
    the connect and read timeouts), so opening the driver makes no connection."""

    def __init__(self, bootstrap_servers: str, *, config: Mapping[str, str] | None = None,
                 parallelism: int = 10, connect_timeout: float = 5.0, read_timeout: float = 30.0) -> None:
        self.bootstrap = bootstrap_servers
        self.config = {str(k): str(v) for k, v in (config or {}).items()}
        taken = sorted(set(self.config) & set(_SET_BY_TARGET))
        if taken:
            raise InputError(f"the config of the Kafka target at {bootstrap_servers} sets {', '.join(taken)}, which "
                             f"topology sets from the target itself; use {', '.join(_SET_BY_TARGET[k] for k in taken)}"
                             " instead")
        self.parallelism = parallelism
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._secrets = sorted((v for k, v in self.config.items() if _is_secret(k) and v), key=len, reverse=True)
        self._events = _Events()
        self.settings: dict[str, Any] = {
            **self.config, "bootstrap.servers": bootstrap_servers,
            "socket.connection.setup.timeout.ms": max(1000, int(connect_timeout * 1000)),
            "socket.timeout.ms": max(10, int(read_timeout * 1000)),
            "logger": self._events.logger, "error_cb": self._events.error}
        self._connecting = threading.Lock()
        self._admin: Any = None
        self._metadata: Any = None  # read on connecting, for the first inspect
        self._nodes: _Nodes | None = None
        self._lock: _Lock | None = None

    @property
    def admin(self) -> Any:
        """confluent-kafka's AdminClient on the cluster, connected on first use (once, whichever thread
        asks first; a failed connection is tried again by the next call)."""
        with self._connecting:
            return self._connected()

    def _connected(self) -> Any:
        """The AdminClient, connecting first if not yet (called with `_connecting` held)."""
        if self._admin is None:
            self._admin = self._connect()
        return self._admin

    def close(self) -> None:
        """Destroy the AdminClient, leave the lock group and close the per-broker connections, whatever
        was opened."""
        admin, self._admin, self._metadata = self._admin, None, None
        if admin is not None:
            _destroy(admin)
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()
        nodes, self._nodes = self._nodes, None
        if nodes is not None:
            try:
                with self._translating("closing the per-broker connections"):
                    nodes.close()
            except BrokerError:
                pass  # nothing is held on them; the broker drops them

    # ----------------------------------------------------------------------------- connection

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    @contextmanager
    def _translating(self, doing: str, *, expected: Collection[str] = ()) -> Iterator[None]:
        """The one translation: a client error raised inside leaves as one of topology's, in one sentence
        naming the cluster and what topology was `doing`, the original chained. An error named in
        `expected` (an answer that means "already so", say TOPIC_ALREADY_EXISTS) ends the block quietly."""
        try:
            yield
        except Exception as exc:
            if not isinstance(exc, _client_errors()):
                raise
            name, detail = _error_name(exc)
            if name in expected:
                return
            raise self._error(name, detail, doing) from exc

    def _error(self, name: str | None, detail: str, doing: str) -> BrokerError:
        where = f"Kafka at {self.bootstrap}"
        if name in _ANSWERS:
            kind, sentence = _ANSWERS[name]
            return kind(self._scrub(sentence.format(where=where, bootstrap=self.bootstrap, doing=doing)))
        if name is None or name in _UNREACHED:
            unreached = self._unreached(name, doing)
            if unreached is not None:
                return unreached
        return BrokerError(self._scrub(f"{where}: {doing} failed ({detail})"))

    def _unreached(self, name: str | None, doing: str) -> BrokerUnavailable | None:
        """Why the cluster was not reached, from what the client saw of its connections."""
        admin = self._admin  # read once: `close` may let go of it meanwhile
        if admin is not None:
            admin.poll(0)  # serve the client's error and log events, which say why
        where = f"Kafka at {self.bootstrap}"
        advice = self._events.diagnosis(self.connect_timeout)
        if advice is not None and advice.startswith(("the connection was refused", "no broker answered",
                                                     "the host name")):
            return BrokerUnavailable(self._scrub(f"{where} is not reachable ({doing} failed): {advice}"))
        if advice is not None:  # it answered, but not as the target's settings expect
            return BrokerUnavailable(self._scrub(f"{where}: {doing} failed: {advice}"))
        if name in _TIMED_OUT:
            return BrokerUnavailable(f"{where} did not answer within {self.read_timeout:g}s while {doing}; check "
                                     "the cluster's health, or raise the target's `timeout`")
        if name is not None:
            return BrokerUnavailable(f"{where} is not reachable ({doing} failed); check bootstrap_servers and that "
                                     "the cluster is running")
        return None

    def _failures(self, futures: Mapping[str, Any], doing: Callable[[str], str],
                  expected: Collection[str] = ()) -> dict[str, str]:
        """The sentence for each of a batch request's futures that failed, by name."""
        errors: dict[str, str] = {}
        for name, future in futures.items():
            try:
                with self._translating(doing(name), expected=expected):
                    future.result()
            except BrokerError as exc:
                errors[name] = str(exc)
        return errors

    def _connect(self) -> Any:
        """A connected AdminClient: the cluster answered within the connect and read timeouts, and said
        what it holds; why not is said as soon as that is clear."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        try:
            admin = AdminClient(self.settings)
        except (KafkaException, ValueError, TypeError) as exc:
            raise InputError(f"the config of the Kafka target at {self.bootstrap} is not valid "
                             f"({self._scrub(str(exc.args[0] if exc.args else exc))}); fix its `config:`") from None
        deadline = time.monotonic() + self.connect_timeout + self.read_timeout
        try:
            with self._translating("reading cluster metadata"):
                while True:
                    try:
                        self._metadata = admin.list_topics(timeout=0.25)
                        return admin
                    except KafkaException:
                        admin.poll(0)  # serve the client's error and log events, which say why
                        if self._events.decisive() or time.monotonic() > deadline:
                            raise
        except BaseException:
            _destroy(admin)  # the error's traceback holds it
            raise

    def _connect_metadata(self) -> Any:
        """The metadata read on connecting (connecting now if not yet), once: fresh enough for the first
        inspect; None afterwards, when it is read again."""
        with self._connecting:
            self._connected()
            metadata, self._metadata = self._metadata, None
            return metadata

    def _refresh(self) -> Any:
        admin = self.admin
        with self._translating("reading cluster metadata"):
            return admin.list_topics(timeout=self.read_timeout)

    def _kwargs(self) -> dict[str, float]:
        return {"request_timeout": self.read_timeout}

    def _node_probe(self) -> _Nodes:
        """kafka-python's connection to each broker, made on first use."""
        with self._connecting:
            self._connected()  # first: its failure says best why the cluster is not reachable
            if self._nodes is None:
                self._nodes = _Nodes(self)
            return self._nodes

    # ---------------------------------------------------------------------------------- inspect

    def inspect(self, selection: Selection) -> dict[str, Live]:
        live = self._inspect_topics(selection)
        live.update(self._inspect_access(selection))
        groups = {a.removeprefix("kafka/group/") for a in selection.addresses if a.startswith("kafka/group/")}
        if selection.prune:  # only the groups pruning may remove are described: not every group of the cluster
            groups |= {g for g in self._group_ids() if selection.wants(f"kafka/group/{g}")}
        live.update(self._groups(sorted(groups)))
        return live

    def _inspect_topics(self, selection: Selection) -> dict[str, Live]:
        """The topics in `selection`: partitions and replicas from the metadata, configs in one request."""
        metadata = self._connect_metadata() or self._refresh()
        topics = sorted(name for name in metadata.topics if not name.startswith("__")
                        and selection.wants(f"kafka/topic/{name}"))
        configs = self._topic_configs(topics)
        live: dict[str, Live] = {}
        for name in topics:
            partitions = metadata.topics[name].partitions
            replication = len(partitions[0].replicas) if partitions else 0
            live[f"kafka/topic/{name}"] = Live("kafka.topic", {
                "partitions": len(partitions), "replication_factor": replication,
                "config": configs.get(name, {})}, name=name)
        return live

    def _inspect_access(self, selection: Selection) -> dict[str, Live]:
        """ACL bindings, SCRAM credentials and quotas in `selection`. Each kind is read only when the
        selection may want one: reading them needs rights on the cluster (Describe, DescribeConfigs)
        that a principal adopting its topics alone may not have."""
        live: dict[str, Live] = {}
        if _may_want(selection, "kafka/acl/"):
            live.update(_adopt_flipped(self._acls(), selection))
        for prefix, read in (("kafka/user/", self._scram_credentials), ("kafka/quota/", self._quotas)):
            if _may_want(selection, prefix):
                live.update({a: item for a, item in read().items() if selection.wants(a)})
        return live

    def own_access(self, live: Mapping[str, Live]) -> dict[str, str]:
        """The ACLs allowing the principal topology runs as (or every user) and its SCRAM credential (access.py)."""
        return access.own_access(live, self.config)

    def secret_matches(self, desired: Resource, live: Live) -> bool:
        """Kafka keeps only a SCRAM credential's salted keys and gives back its mechanism and iterations,
        never anything to check a password against (no salt, no stored key): so the live password is taken
        as the file's. Apply writes the file's password whenever it creates a credential or changes its
        iterations; a password changed alone in the file is not seen."""
        return True

    def _topic_configs(self, topics: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each topic's dynamic config (its overrides), in one DescribeConfigs. librdkafka always asks for
        every entry's synonyms and makes a Python object of each entry and synonym: about 0.3 ms a topic.
        kafka-python asks without them for a third of that, but importing it costs a process about 0.3 s:
        so it is used when the topics are many enough to repay it (both give the same; see
        tests/brokers/test_kafka_config_reads.py)."""
        if not topics:
            return {}
        if len(topics) >= _KAFKA_PYTHON_FROM:
            return self._node_probe().topic_configs(topics, "describing topic configs")
        return self._librdkafka_topic_configs(topics)

    def _librdkafka_topic_configs(self, topics: Sequence[str]) -> dict[str, dict[str, str]]:
        from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

        resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
        found: dict[str, dict[str, str]] = {}
        with self._translating("describing topic configs"):
            for resource, future in self.admin.describe_configs(resources, **self._kwargs()).items():
                entries = future.result()
                found[resource.name] = _normalise_live_config({
                    key: entry.value for key, entry in entries.items()
                    if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None})
        return found

    def _acls(self) -> dict[str, Live]:
        """Every ACL binding of the cluster (none when it has no authorizer: it holds none)."""
        bindings = self._node_probe().acls("describing ACLs")
        return {acl_address(b): Live("kafka.acl", b, name=f"{b['principal']}/{b['operation']}") for b in bindings}

    def _scram_credentials(self) -> dict[str, Live]:
        """Every SCRAM credential of the cluster: its user, mechanism and iterations (never a password)."""
        with self._translating("describing SCRAM credentials"):
            described = self.admin.describe_user_scram_credentials(**self._kwargs()).result()
        live: dict[str, Live] = {}
        for user, description in sorted(described.items()):
            for info in description.scram_credential_infos:
                mechanism = info.mechanism.name.replace("_", "-")  # SCRAM_SHA_256 -> SCRAM-SHA-256
                live[scram_address(user, mechanism)] = Live("kafka.scram_credential", {
                    "user": user, "mechanism": mechanism, "iterations": info.iterations}, name=user)
        return live

    def _quotas(self) -> dict[str, Live]:
        """Every client quota entity of the cluster and its values."""
        live: dict[str, Live] = {}
        for entity, quotas in self._node_probe().quotas("describing client quotas").items():
            address = quota_address(dict(entity))
            live[address] = Live("kafka.quota", {"entity": dict(entity), "quotas": quotas},
                                 name=address.removeprefix("kafka/quota/"))
        return live

    def _group_ids(self) -> set[str]:
        with self._translating("listing consumer groups"):
            result = self.admin.list_consumer_groups(**self._kwargs()).result()
        return {group.group_id for group in result.valid if not group.group_id.startswith("__topology")}

    def _describe_groups(self, ids: Sequence[str]) -> dict[str, Any]:
        """Each group's description (a group that never existed has none), asked at once; a cluster that
        just started may still be loading its group coordinator, so a group is asked again (bounded)."""
        described: dict[str, Any] = {}
        deadline = time.monotonic() + _WAIT_S
        with self._translating("describing consumer groups"):
            futures = self.admin.describe_consumer_groups(list(ids), **self._kwargs())
        for group, future in futures.items():
            def again(group: str = group) -> Any:
                return self.admin.describe_consumer_groups([group], **self._kwargs())[group].result()

            with self._translating(f"describing consumer group {group}", expected=("GROUP_ID_NOT_FOUND",)):
                described[group] = _settled(future.result, again, deadline)
        return described

    def _committed(self, ids: Sequence[str]) -> dict[str, list[Any]]:
        """Each group's committed offsets (partitions with an offset), all groups asked at once."""
        from confluent_kafka import ConsumerGroupTopicPartitions

        # The admin API takes one group per request; sending them all before waiting makes it one round trip.
        with self._translating("reading the offsets of consumer groups"):
            futures = {group: self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                                     **self._kwargs())[group] for group in ids}
        committed: dict[str, list[Any]] = {}
        for group, future in futures.items():
            with self._translating(f"reading the offsets of consumer group {group}"):
                result = future.result()
            committed[group] = [tp for tp in result.topic_partitions or [] if tp.offset >= 0]
        return committed

    def _groups(self, ids: Sequence[str]) -> dict[str, Live]:
        from confluent_kafka import ConsumerGroupState

        if not ids:
            return {}
        described = self._describe_groups(ids)
        committed = self._committed(sorted(described))
        live: dict[str, Live] = {}
        for group, description in described.items():
            offsets = committed.get(group, [])
            if description.state == ConsumerGroupState.DEAD and not offsets:
                continue
            topics = sorted({tp.topic for tp in offsets})
            live[f"kafka/group/{group}"] = Live("kafka.group", {"topics": topics}, name=group, messages=len(offsets),
                                                depends_on=tuple(f"kafka/topic/{t}" for t in topics))
        return live

    def _topic_messages(self, names: Sequence[str]) -> dict[str, int]:
        """Messages each topic holds now: the sum over its partitions of end minus beginning offset."""
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        topics = self._refresh().topics
        partitions = [TopicPartition(n, p) for n in names if n in topics for p in topics[n].partitions]
        counts = dict.fromkeys(names, 0)
        if not partitions:
            return counts
        with self._translating("reading topic offsets"):
            low = self.admin.list_offsets({tp: OffsetSpec.earliest() for tp in partitions}, **self._kwargs())
            high = self.admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions}, **self._kwargs())
            for tp in partitions:
                counts[tp.topic] += high[tp].result().offset - low[tp].result().offset
        return counts

    def health(self, watches: Sequence[Watch]) -> list[Reading]:
        """Each watched group's lag and lag in time per topic, read in bulk (see health.py)."""
        return read_health(self, watches)

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """Messages held by topics, committed offsets held by groups, read now."""
        topics = {a: item.name for a, item in live.items() if item.kind == "kafka.topic"}
        groups = {a: item.name for a, item in live.items() if item.kind == "kafka.group"}
        messages = self._topic_messages(sorted(topics.values()))
        committed = self._committed(sorted(groups.values())) if groups else {}
        counts: dict[str, int | None] = {a: messages.get(n, 0) for a, n in topics.items()}
        counts.update({a: len(committed.get(n, [])) for a, n in groups.items()})
        return counts

    # ------------------------------------------------------------------------------------ apply

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        """Topics created, deleted and updated in batches, ACLs together, groups one by one; a change
        planned as losing nothing whose object holds something now is refused first."""
        refused = self._still_empty([c for c in changes if c.needs_empty and not c.loses_data])
        batches = _batches(c for c in changes if c.address not in refused)
        steps: list[tuple[Callable[[list[Change]], list[ChangeResult]], list[Change]]] = [
            (self._create_topics, batches["create topics"]), (self._delete_topics, batches["delete topics"]),
            (self._apply_acls, batches["ACLs"]), (lambda batch: self._apply_scram(batch, desired), batches["SCRAM"]),
            (self._apply_quotas, batches["quotas"]), (self._update_topics, batches["update topics"]),
            (lambda batch: [self.unstarted(c) or self._apply_one(c) for c in batch], batches["one by one"])]
        results = list(refused.values())
        for step, batch in steps:  # an interrupted apply starts no further step
            results += [ChangeResult(c.address, False, started=False) for c in batch] \
                if self.stopping.is_set() else step(batch)
        return results

    def _apply_one(self, change: Change) -> ChangeResult:
        try:
            if change.kind != "kafka.group":
                raise BrokerError(f"the Kafka driver does not manage {change.kind}")
            self._apply_group(change)
        except BrokerError as exc:
            return ChangeResult(change.address, False, str(exc))
        return ChangeResult(change.address, True)

    def _still_empty(self, changes: Sequence[Change]) -> dict[str, ChangeResult]:
        """Refusals for the changes planned as losing nothing whose object now holds something."""
        topics = [c for c in changes if c.kind == "kafka.topic"]
        groups = [c for c in changes if c.kind == "kafka.group"]
        refused: dict[str, ChangeResult] = {}
        try:
            messages = self._topic_messages([c.name for c in topics]) if topics else {}
            committed = self._committed([c.name for c in groups]) if groups else {}
        except BrokerError as exc:
            return {c.address: ChangeResult(c.address, False, str(exc)) for c in changes}
        for change in topics:
            if messages.get(change.name, 0):
                refused[change.address] = refused_not_empty(change, _plural(messages[change.name], "message"))
        for change in groups:
            if committed.get(change.name):
                refused[change.address] = refused_not_empty(change, _plural(len(committed[change.name]),
                                                                            "committed offset"))
        return refused

    def _wait_for_metadata(self, names: Iterable[str], present: bool) -> list[str]:
        """Wait until every broker lists every topic with a leader for each partition (or no longer lists
        it); returns the stragglers. Each broker is asked for these topics alone, not the whole cluster."""
        names = list(names)
        return self._converge(set(names), lambda node: node.topics_settled(names, present))

    def _converge(self, wanted: set[str], pending_on: Callable[[_Nodes], set[str]]) -> list[str]:
        """Wait until every broker reports the change (`pending_on` gives what some broker does not yet),
        asking again after 10 ms, then less often (at most every 200 ms): most changes settle at once."""
        if not wanted:
            return []
        nodes = self._node_probe()
        deadline = time.monotonic() + _WAIT_S
        pending = pending_on(nodes)
        pause = 0.01
        while pending and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
            pending = pending_on(nodes)
        return sorted(pending)

    def _create_topics(self, changes: Sequence[Change]) -> list[ChangeResult]:
        from confluent_kafka.admin import NewTopic

        if not changes:
            return []
        new = []
        for change in changes:
            after = change.after or {}
            new.append(NewTopic(change.name, num_partitions=after.get("partitions", -1),
                                replication_factor=after.get("replication_factor", -1),
                                config=dict(after.get("config", {}))))
        with self._translating("creating topics"):
            futures = self.admin.create_topics(new, operation_timeout=self.read_timeout, **self._kwargs())
        errors = self._failures(futures, lambda topic: f"creating topic {topic}", expected=("TOPIC_ALREADY_EXISTS",))
        late = self._wait_for_metadata([c.name for c in changes if c.name not in errors], present=True)
        for topic in late:
            errors[topic] = f"topic {topic} was created but not every broker listed it within {_WAIT_S:.0f}s"
        return [ChangeResult(c.address, c.name not in errors, errors.get(c.name)) for c in changes]

    def _delete_topics(self, changes: Sequence[Change]) -> list[ChangeResult]:
        if not changes:
            return []
        with self._translating("deleting topics"):
            futures = self.admin.delete_topics([c.name for c in changes], operation_timeout=self.read_timeout,
                                               **self._kwargs())
        errors = self._failures(futures, lambda topic: f"deleting topic {topic}", expected=("UNKNOWN_TOPIC_OR_PART",))
        for topic in self._wait_for_metadata([c.name for c in changes if c.name not in errors], present=False):
            errors[topic] = f"topic {topic} is still listed by a broker {_WAIT_S:.0f}s after its deletion"
        return [ChangeResult(c.address, c.name not in errors, errors.get(c.name)) for c in changes]

    def _update_topics(self, changes: Sequence[Change]) -> list[ChangeResult]:
        """Grow partitions and alter configs, each in one request, wait until every broker agrees, then
        move the topics whose replication factor changes (one by one)."""
        grow = _growth(changes)
        configs = [c for c in changes if _changes(c, "config")]
        errors = self._grow(grow)
        errors.update(self._alter_configs([c for c in configs if c.name not in errors]))
        done_grow = {n: count for n, count in grow.items() if n not in errors}
        done_config = {c.name: _normalise_live_config((c.after or {}).get("config", {}))
                       for c in configs if c.name not in errors}
        for name in self._converge(set(done_grow) | set(done_config),
                                   lambda node: node.topics_differ(done_grow, done_config)):
            errors[name] = (f"topic {name} was changed but not every broker reports the change within "
                            f"{_WAIT_S:.0f}s; run `topology plan` again in a moment")
        for change in changes:
            if change.name not in errors and _changes(change, "replication_factor"):
                errors.update(self._reassigned(change))
        return [ChangeResult(c.address, c.name not in errors, errors.get(c.name)) for c in changes]

    def _reassigned(self, change: Change) -> dict[str, str]:
        """{topic: why not} when moving the topic to its new replication factor failed; {} when done."""
        try:
            self._reassign(change.name, int((change.after or {})["replication_factor"]))
        except BrokerError as exc:
            return {change.name: str(exc)}
        return {}

    def _grow(self, grow: Mapping[str, int]) -> dict[str, str]:
        from confluent_kafka.admin import NewPartitions

        if not grow:
            return {}
        with self._translating("growing topics"):
            futures = self.admin.create_partitions([NewPartitions(n, count) for n, count in grow.items()],
                                                   operation_timeout=self.read_timeout, **self._kwargs())
        return self._failures(futures, lambda name: f"growing topic {name} to {grow[name]} partitions")

    def _alter_configs(self, changes: Sequence[Change]) -> dict[str, str]:
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

        if not changes:
            return {}
        resources = []
        for change in changes:
            old, new = (change.before or {}).get("config", {}), (change.after or {}).get("config", {})
            entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                       for k, v in new.items() if old.get(k) != v]
            entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                        for k in old if k not in new]
            resources.append(ConfigResource(ResourceType.TOPIC, change.name, incremental_configs=entries))
        with self._translating("changing topic configs"):
            futures = {resource.name: future for resource, future in
                       self.admin.incremental_alter_configs(resources, **self._kwargs()).items()}
        return self._failures(futures, lambda name: f"changing the config of topic {name}")

    def _reassign(self, topic: str, replication: int) -> None:
        """Move every partition to `replication` replicas, spread evenly, and wait for it to finish."""
        from kafka import TopicPartition

        metadata = self._refresh()
        brokers = sorted(metadata.brokers)
        if replication > len(brokers):
            raise BrokerError(f"topic {topic}: replication factor {replication} needs {replication} brokers; "
                              f"the cluster has {len(brokers)}")
        plan: dict[Any, list[int]] = {}
        for index, (partition, info) in enumerate(sorted(metadata.topics[topic].partitions.items())):
            replicas = list(info.replicas)[:replication]
            rotation = brokers[index % len(brokers):] + brokers[:index % len(brokers)]
            replicas += [b for b in rotation if b not in replicas][:replication - len(replicas)]
            plan[TopicPartition(topic, partition)] = replicas
        client = self._node_probe().client
        with self._translating(f"reassigning topic {topic} to {replication} replicas"):
            errors = {tp: err for tp, err in client.alter_partition_reassignments(plan).items() if err}
        if errors:
            raise BrokerError(f"topic {topic}: the reassignment was refused: {errors}")
        deadline = time.monotonic() + _WAIT_S * 5
        while self._reassigning(client, topic, list(plan)):
            if time.monotonic() > deadline:
                raise BrokerError(f"topic {topic}: the reassignment to {replication} replicas is still running")
            time.sleep(0.5)
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            partitions = self._refresh().topics[topic].partitions
            if all(len(p.replicas) == replication for p in partitions.values()):
                return
            time.sleep(0.3)
        raise BrokerError(f"topic {topic}: metadata does not show {replication} replicas yet")

    def _reassigning(self, client: Any, topic: str, partitions: list[Any]) -> bool:
        with self._translating(f"following the reassignment of topic {topic}"):
            return bool(client.list_partition_reassignments(partitions))

    def _apply_group(self, change: Change) -> None:
        """A group is deleted, or made (and later extended) by committing its initial offsets."""
        if change.action == "delete":
            with self._translating(f"deleting consumer group {change.name}", expected=("GROUP_ID_NOT_FOUND",)):
                self.admin.delete_consumer_groups([change.name], **self._kwargs())[change.name].result()
            return
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        after = change.after or {}
        have = set((change.before or {}).get("topics", []))
        missing = [t for t in after.get("topics", []) if t not in have]
        topics = self._refresh().topics
        absent = [t for t in missing if t not in topics]
        if absent:
            raise BrokerError(f"consumer group {change.name}: topic {absent[0]} does not exist")
        partitions = [TopicPartition(t, p) for t in missing for p in topics[t].partitions]
        if partitions:
            spec = OffsetSpec.earliest() if after.get("initial_offset") == "earliest" else OffsetSpec.latest()
            self._commit_offsets(change.name, partitions, spec)

    def _commit_offsets(self, group: str, partitions: Sequence[Any], spec: Any) -> None:
        """Commit, for `group`, each partition's offset at `spec` (its earliest or latest)."""
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

        def commit() -> None:
            offsets = self.admin.list_offsets({tp: spec for tp in partitions}, **self._kwargs())
            committed = [TopicPartition(tp.topic, tp.partition, offsets[tp].result().offset) for tp in partitions]
            request = ConsumerGroupTopicPartitions(group, committed)
            self.admin.alter_consumer_group_offsets([request], **self._kwargs())[group].result()

        # A topic created a moment ago may still be electing leaders: what is retriable is asked again.
        with self._translating(f"committing the initial offsets of consumer group {group}"):
            _settled(commit, commit, time.monotonic() + _WAIT_S)

    # ------------------------------------------------------------------------------------- ACLs

    def _apply_acls(self, changes: Sequence[Change]) -> list[ChangeResult]:
        """Create and delete bindings, then wait until every broker's authorizer reports them.

        A replace (only a flipped permission is one: every other field is part of the address) is
        two steps. The order never grants more than the old or the new binding: when either is a
        deny, the new binding is created first (a deny wins while both exist); when both allow, the
        old one is deleted first (a moment with neither: too little access, never too much)."""
        if not changes:
            return []
        errors: dict[str, str] = {}
        present: dict[str, dict[str, Any]] = {}
        absent: dict[str, dict[str, Any]] = {}
        for change in changes:
            try:
                for step, binding in _acl_steps(change):
                    self._acl_call(step, binding)
                    (present if step == "create" else absent)[change.address + "/" + step] = binding
            except BrokerError as exc:
                errors[change.address] = str(exc)
        late = self._converge(set(present) | set(absent), lambda node: node.acls_differ(present, absent))
        for key in late:
            address = key.rsplit("/", 1)[0]
            errors.setdefault(address, f"the ACL {address} was changed but not every broker reports it within "
                                       f"{_WAIT_S:.0f}s; run `topology plan` again in a moment")
        return [ChangeResult(c.address, c.address not in errors, errors.get(c.address)) for c in changes]

    def _acl_call(self, step: str, binding: Mapping[str, Any]) -> None:
        """Create one binding, or delete exactly that one (a filter with every field set)."""
        from kafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

        codes = _acl_codes(binding)
        nodes = self._node_probe()
        if step == "delete":
            query = DeleteAclsRequest.DeleteAclsFilter(
                resource_type_filter=codes["resource_type"], resource_name_filter=binding["resource_name"],
                pattern_type_filter=codes["pattern_type"], principal_filter=binding["principal"],
                host_filter=binding["host"], operation=codes["operation"], permission_type=codes["permission"])
            answer = nodes.one(DeleteAclsRequest(filters=[query]), "deleting an ACL")
            result = answer["filter_results"][0]
        else:
            creation = CreateAclsRequest.AclCreation(
                resource_type=codes["resource_type"], resource_name=binding["resource_name"],
                resource_pattern_type=codes["pattern_type"], principal=binding["principal"], host=binding["host"],
                operation=codes["operation"], permission_type=codes["permission"])
            answer = nodes.one(CreateAclsRequest(creations=[creation]), "creating an ACL")
            result = answer["results"][0]
        with self._translating(f"{'deleting' if step == 'delete' else 'creating'} an ACL"):
            _raise_for(result["error_code"], result["error_message"])

    # ------------------------------------------------------------------------- SCRAM credentials

    def _apply_scram(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        """Upsert (with the file's password) or delete each credential, one change per user in a request
        (Kafka refuses a user twice in one), then wait until every broker reports them."""
        if not changes:
            return []
        errors: dict[str, str] = {}
        for batch in _one_per_user(changes):
            errors.update(self._alter_scram(batch, desired))
        wanted = {c.address: (c.after or {}).get("iterations") if c.action != "delete" else None
                  for c in changes if c.address not in errors}
        for address in self._converge(set(wanted), lambda node: node.scram_differ(wanted)):
            errors[address] = (f"the SCRAM credential {address} was changed but not every broker reports it within "
                               f"{_WAIT_S:.0f}s; run `topology plan` again in a moment")
        return [ChangeResult(c.address, c.address not in errors, errors.get(c.address)) for c in changes]

    def _alter_scram(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> dict[str, str]:
        """One AlterUserScramCredentials for `changes` (no user twice); the sentence of each that failed."""
        from confluent_kafka.admin import (
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialDeletion,
            UserScramCredentialUpsertion,
        )

        errors: dict[str, str] = {}
        alterations: dict[str, tuple[Change, Any]] = {}
        for change in changes:
            attributes = change.after or change.before or {}
            mechanism = ScramMechanism[attributes["mechanism"].replace("-", "_")]
            if change.action == "delete":
                alterations[change.name] = (change, UserScramCredentialDeletion(change.name, mechanism))
                continue
            resource = desired.get(change.address)
            password = resource.secrets.get("password") if resource is not None else None
            if password is None or not password.reveal():
                errors[change.address] = (f"the SCRAM credential {change.address} needs its password: give it in the "
                                          "file (from the environment) and run apply again")
                continue
            info = ScramCredentialInfo(mechanism, int(attributes["iterations"]))
            alterations[change.name] = (change, UserScramCredentialUpsertion(
                change.name, info, password.reveal().encode()))
        if not alterations:
            return errors
        with self._translating("changing SCRAM credentials"):
            futures = self.admin.alter_user_scram_credentials([a for _, a in alterations.values()], **self._kwargs())
        failed = self._failures(futures, lambda user: f"changing the SCRAM credential of user {user}")
        errors.update({alterations[user][0].address: sentence for user, sentence in failed.items()})
        return errors

    # -------------------------------------------------------------------------------- client quotas

    def _apply_quotas(self, changes: Sequence[Change]) -> list[ChangeResult]:
        """One AlterClientQuotas for every entity: each value set or removed (a delete removes them
        all), then wait until every broker reports the new values."""
        from kafka.protocol.admin import AlterClientQuotasRequest

        if not changes:
            return []
        request = AlterClientQuotasRequest(entries=[_quota_entry(c) for c in changes], validate_only=False)
        answer = self._node_probe().one(request, "changing client quotas")
        errors: dict[str, str] = {}
        for change, result in zip(changes, answer["entries"], strict=True):
            try:
                with self._translating(f"changing the client quotas of {change.name}"):
                    _raise_for(result["error_code"], result["error_message"])
            except BrokerError as exc:
                errors[change.address] = str(exc)
        wanted = {c.address: _quotas_after(c) for c in changes if c.address not in errors}
        for address in self._converge(set(wanted), lambda node: node.quotas_differ(wanted)):
            errors[address] = (f"the client quotas {address} were changed but not every broker reports them within "
                               f"{_WAIT_S:.0f}s; run `topology plan` again in a moment")
        return [ChangeResult(c.address, c.address not in errors, errors.get(c.address)) for c in changes]

    # ------------------------------------------------------------------------------------- lock

    def lock(self, holder: str, wait: float) -> None:
        """The apply lock: partition 0 of the one-partition topic `__topology.lock`, assigned to one
        member of the consumer group `__topology.lock` at a time (cooperative-sticky, so a newcomer
        never takes it from the holder). The broker frees it when the holder leaves the group, or
        within the session timeout (6 s) when the holder's process dies."""
        if self._lock is None:
            self._lock = _Lock(self, holder)
        self._lock.take(wait)


# ------------------------------------------------------------------------------------------- ACLs


_ACL_NAMES = {field: {code: name for name, code in table.items()} for field, table in (
    ("resource_type", ACL_RESOURCE_TYPES), ("pattern_type", ACL_PATTERNS), ("operation", ACL_OPERATIONS),
    ("permission", ACL_PERMISSIONS))}


def _acl_codes(binding: Mapping[str, Any]) -> dict[str, int]:
    """A binding's enum fields as the codes Kafka's protocol uses."""
    return {"resource_type": ACL_RESOURCE_TYPES[binding["resource_type"]],
            "pattern_type": ACL_PATTERNS[binding["pattern_type"]], "operation": ACL_OPERATIONS[binding["operation"]],
            "permission": ACL_PERMISSIONS[binding["permission"]]}


def _decoded(resource: Mapping[str, Any], acl: Mapping[str, Any]) -> dict[str, Any]:
    """A binding from a DescribeAcls answer, as expansion writes it. A code this version does not know
    (a newer Kafka's) becomes `unknown-<code>`, which validate refuses by name rather than losing it."""
    def name(field: str, code: int) -> str:
        return _ACL_NAMES[field].get(code, f"unknown-{code}")

    return {"principal": acl["principal"], "host": acl["host"],
            "resource_type": name("resource_type", resource["resource_type"]),
            "resource_name": resource["resource_name"], "pattern_type": name("pattern_type", resource["pattern_type"]),
            "operation": name("operation", acl["operation"]), "permission": name("permission", acl["permission_type"])}


_MECHANISMS = {1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512"}  # Kafka's ScramMechanism codes


def _raise_for(code: int, message: str | None) -> None:
    """Raise Kafka's error for a non-zero code of a protocol answer, in kafka-python's exception type."""
    if code:
        import kafka.errors

        raise kafka.errors.for_code(code)(message or "")


def _one_per_user(changes: Sequence[Change]) -> list[list[Change]]:
    """`changes` in rounds, each with at most one change per user, in plan order."""
    rounds: list[list[Change]] = []
    for change in changes:
        free = next((r for r in rounds if all(c.name != change.name for c in r)), None)
        if free is None:
            rounds.append(free := [])
        free.append(change)
    return rounds


def _quotas_after(change: Change) -> dict[str, Any]:
    """The quota values an entity has once `change` is made (none after a delete)."""
    return dict((change.after or {}).get("quotas", {})) if change.action != "delete" else {}


def _quota_entry(change: Change) -> Any:
    """The AlterClientQuotas entry of one change: each value set that is new or other, each removed
    that the entity no longer has."""
    from kafka.protocol.admin import AlterClientQuotasRequest

    entry = AlterClientQuotasRequest.EntryData
    before, after = (change.before or {}).get("quotas", {}), _quotas_after(change)
    entity = (change.after or change.before or {})["entity"]
    ops = [entry.OpData(key=k, value=float(v), remove=False) for k, v in after.items() if before.get(k) != v]
    ops += [entry.OpData(key=k, value=0.0, remove=True) for k in before if k not in after]
    return entry(entity=[entry.EntityData(entity_type=kind, entity_name=_entity_name(name))
                         for kind, name in entity.items()], ops=ops)


def _entity_name(name: str) -> str | None:
    """A quota entity's name as Kafka's protocol says it: None for the default entity."""
    return None if name == DEFAULT_ENTITY else name


def _quota_entries(answer: Mapping[str, Any]) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
    """A DescribeClientQuotas answer: each entity (its parts, sorted) and its values in Kafka's units."""
    found: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for entry in answer["entries"]:
        entity = tuple(sorted((part["entity_type"], part["entity_name"] if part["entity_name"] is not None
                               else DEFAULT_ENTITY) for part in entry["entity"]))
        quotas: dict[str, Any] = {}
        for value in entry["values"]:
            try:
                quotas[value["key"]] = normalise_quota(value["key"], value["value"])
            except (KeyError, ValueError):  # a key or value the format does not take: shown as is
                quotas[value["key"]] = value["value"]
        found[entity] = dict(sorted(quotas.items()))
    return found


def _adopt_flipped(bindings: Mapping[str, Live], selection: Selection) -> dict[str, Live]:
    """Live bindings by address. A declared binding that is missing, where a binding that differs
    only in its permission exists undeclared, is reported as that binding (at the declared address),
    so the differ plans the flip as a replace (the old binding deleted) rather than a second binding."""
    live = {a: item for a, item in bindings.items() if selection.wants(a)}
    for address in sorted(a for a in selection.addresses if a.startswith("kafka/acl/") and a not in bindings):
        for candidate, item in bindings.items():
            flipped = {**item.attributes, "permission": "deny" if item.attributes["permission"] == "allow" else
                       "allow"}
            if acl_address(flipped) == address and candidate not in selection.addresses:
                live.pop(candidate, None)
                live[address] = item
                break
    return live


def _acl_steps(change: Change) -> list[tuple[str, dict[str, Any]]]:
    before, after = change.before or {}, change.after or {}
    if change.action == "create":
        return [("create", after)]
    if change.action == "delete":
        return [("delete", before)]
    if before.get("permission") == "allow" and after.get("permission") == "allow":
        return [("delete", before), ("create", after)]
    return [("create", after), ("delete", before)]


def _binding_key(binding: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(binding[field]) for field in ACL_FIELDS)


# -------------------------------------------------------------------------------- every broker


class _Nodes:
    """Asks each broker itself (kafka-python's connection to one node), so a change counts as done
    only when every broker reports it, whichever one the next plan happens to ask."""

    def __init__(self, driver: KafkaDriver) -> None:
        from kafka import KafkaAdminClient

        self.driver = driver
        with driver._translating("connecting to each broker"):
            self.client = KafkaAdminClient(**_kafka_python_settings(driver))

    def close(self) -> None:
        self.client.close()

    def _ask(self, request: Any) -> list[dict[str, Any]]:
        manager = self.client._manager

        async def send(node: int) -> Any:
            return await manager.send(request, node_id=node)

        nodes = [broker.node_id for broker in self.client._client.cluster.brokers()]
        if not nodes:  # never a vacuous "every broker agrees"
            raise BrokerError(f"Kafka at {self.driver.bootstrap}: no broker is known to ask whether a change is "
                              "done; run the command again")
        with self.driver._translating("asking each broker"):
            return [manager.run(send, node).to_dict() for node in nodes]

    def _metadata(self, names: Iterable[str]) -> list[dict[str, dict[str, Any]]]:
        from kafka.protocol.metadata import MetadataRequest

        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=n) for n in names],
                                  allow_auto_topic_creation=False)
        return [{t["name"]: t for t in answer["topics"] if t["error_code"] == 0} for answer in self._ask(request)]

    def topics_settled(self, names: Iterable[str], present: bool) -> set[str]:
        """The topics some broker does not yet list ready (`_led`: every partition led), or, when not
        `present`, still lists."""
        names = list(names)
        if present:
            return {n for answer in self._metadata(names) for n in names if not _led(answer.get(n))}
        return {n for answer in self._metadata(names) for n in names if n in answer}

    def topics_differ(self, partitions: Mapping[str, int], configs: Mapping[str, Mapping[str, str]]) -> set[str]:
        from kafka.admin import ConfigResource, ConfigResourceType

        differ: set[str] = set()
        if partitions:
            for answer in self._metadata(partitions):
                differ |= {n for n, count in partitions.items()
                           if n not in answer or len(answer[n]["partitions"]) != count}
        if configs:
            request = self.client._describe_configs_request(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in configs], False)
            for reply in self._ask(request):
                for result in reply["results"]:
                    dynamic = {c["name"]: c["value"] for c in result["configs"]
                               if c.get("config_source") == 1 and c["value"] is not None}  # DYNAMIC_TOPIC_CONFIG
                    if _normalise_live_config(dynamic) != configs.get(result["resource_name"]):
                        differ.add(result["resource_name"])
        return differ

    def topic_configs(self, names: Sequence[str], doing: str) -> dict[str, dict[str, str]]:
        """Each topic's DYNAMIC_TOPIC_CONFIG entries, normalised: one DescribeConfigs (no synonyms, no
        documentation) per `_DESCRIBE_BATCH` topics, pipelined on one connection."""
        from kafka.protocol.admin import DescribeConfigsRequest

        requests = [DescribeConfigsRequest(resources=[(2, name, None) for name in names[i:i + _DESCRIBE_BATCH]],
                                           include_synonyms=False, include_documentation=False, min_version=1)
                    for i in range(0, len(names), _DESCRIBE_BATCH)]  # 2: the TOPIC resource type; v1: config_source
        found: dict[str, dict[str, str]] = {}
        for answer in self._pipelined(requests, doing):
            for result in answer.results:
                if result.error_code:
                    with self.driver._translating(doing):
                        _raise_for(result.error_code, result.error_message)
                found[result.resource_name] = _normalise_live_config({
                    entry.name: entry.value for entry in result.configs
                    if entry.config_source == 1 and entry.value is not None})  # 1: DYNAMIC_TOPIC_CONFIG
        return found

    def _pipelined(self, requests: Sequence[Any], doing: str) -> list[Any]:
        """`requests` sent to one broker, at most `_IN_FLIGHT` at a time, their answers in order (the broker
        prepares the next while this side decodes the last)."""
        manager = self.client._manager

        async def send_all() -> list[Any]:
            node = manager.least_loaded_node()
            answers: list[Any] = []
            pending: deque[Any] = deque()
            for request in requests:
                if len(pending) >= _IN_FLIGHT:
                    answers.append(await pending.popleft())
                pending.append(manager.send(request, node_id=node))
            while pending:
                answers.append(await pending.popleft())
            return answers

        with self.driver._translating(doing):
            return list(manager.run(send_all))

    def one(self, request: Any, doing: str) -> dict[str, Any]:
        """`request` sent to one broker (any: it forwards what the controller must do), its answer."""
        manager = self.client._manager
        with self.driver._translating(doing):
            return dict(manager.run(manager.send, request).to_dict())

    def acls(self, doing: str, answers: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Every ACL binding, as one broker (or each of `answers`) reports them; none when the cluster
        has no authorizer (it holds none; creating one says so)."""
        from kafka.protocol.admin import DescribeAclsRequest

        if answers is None:
            answers = [self.one(DescribeAclsRequest(
                resource_type_filter=1, resource_name_filter=None, pattern_type_filter=1, principal_filter=None,
                host_filter=None, operation=1, permission_type=1), doing)]  # 1: ANY, for each field
        bindings = []
        for answer in answers:
            if answer["error_code"] == 54:  # SECURITY_DISABLED: no authorizer
                continue
            with self.driver._translating(doing):
                _raise_for(answer["error_code"], answer["error_message"])
            bindings += [_decoded(resource, acl) for resource in answer["resources"] for acl in resource["acls"]]
        return bindings

    def acls_differ(self, present: Mapping[str, Mapping[str, Any]],
                    absent: Mapping[str, Mapping[str, Any]]) -> set[str]:
        from kafka.protocol.admin import DescribeAclsRequest

        request = DescribeAclsRequest(resource_type_filter=1, resource_name_filter=None, pattern_type_filter=1,
                                      principal_filter=None, host_filter=None, operation=1, permission_type=1)
        differ: set[str] = set()
        for answer in self._ask(request):
            if answer["error_code"]:
                return set()  # no authorizer: creating already failed and said so
            found = {_binding_key(binding) for binding in self.acls("asking each broker", [answer])}
            differ |= {k for k, b in present.items() if _binding_key(b) not in found}
            differ |= {k for k, b in absent.items() if _binding_key(b) in found}
        return differ

    def scram_differ(self, wanted: Mapping[str, int | None]) -> set[str]:
        """The credentials (by address) some broker does not yet report with the wanted iterations
        (None: the credential is gone)."""
        from kafka.protocol.admin import DescribeUserScramCredentialsRequest

        differ: set[str] = set()
        for answer in self._ask(DescribeUserScramCredentialsRequest(users=None)):
            with self.driver._translating("asking each broker"):
                _raise_for(answer["error_code"], answer["error_message"])
            found = {scram_address(result["user"], _MECHANISMS.get(info["mechanism"], "")): info["iterations"]
                     for result in answer["results"] for info in result["credential_infos"]}
            differ |= {address for address, iterations in wanted.items() if found.get(address) != iterations}
        return differ

    def quotas(self, doing: str) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
        """Every client quota entity and its values, as one broker reports them."""
        from kafka.protocol.admin import DescribeClientQuotasRequest

        answer = self.one(DescribeClientQuotasRequest(components=[], strict=False), doing)
        with self.driver._translating(doing):
            _raise_for(answer["error_code"], answer["error_message"])
        return _quota_entries(answer)

    def quotas_differ(self, wanted: Mapping[str, Mapping[str, Any]]) -> set[str]:
        """The quota entities (by address) some broker does not yet report with the wanted values ({}: none)."""
        from kafka.protocol.admin import DescribeClientQuotasRequest

        differ: set[str] = set()
        for answer in self._ask(DescribeClientQuotasRequest(components=[], strict=False)):
            with self.driver._translating("asking each broker"):
                _raise_for(answer["error_code"], answer["error_message"])
            found = {quota_address(dict(entity)): quotas for entity, quotas in _quota_entries(answer).items()}
            differ |= {address for address, quotas in wanted.items() if not same(found.get(address, {}), quotas)}
        return differ


def _kafka_python_settings(driver: KafkaDriver) -> dict[str, Any]:
    """The target's librdkafka settings in kafka-python's words (security and timeouts)."""
    config = driver.config
    settings: dict[str, Any] = {
        "bootstrap_servers": driver.bootstrap.split(","), "client_id": "topology",
        "request_timeout_ms": int(driver.read_timeout * 1000) + 1000,
        "bootstrap_timeout_ms": int((driver.connect_timeout + driver.read_timeout) * 1000)}
    for ours, theirs in (("security.protocol", "security_protocol"), ("sasl.mechanism", "sasl_mechanism"),
                         ("sasl.mechanisms", "sasl_mechanism"), ("sasl.username", "sasl_plain_username"),
                         ("sasl.password", "sasl_plain_password"), ("ssl.ca.location", "ssl_cafile"),
                         ("ssl.certificate.location", "ssl_certfile"), ("ssl.key.location", "ssl_keyfile"),
                         ("ssl.key.password", "ssl_password")):
        if ours in config:
            settings[theirs] = config[ours]
    return settings


# ------------------------------------------------------------------------------------------- lock


class _Lock:
    """Membership of the lock group; a background thread keeps serving its rebalances."""

    def __init__(self, driver: KafkaDriver, holder: str) -> None:
        self.driver = driver
        self.holder = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in holder)
        self.consumer: Any = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _topic(self) -> None:
        from confluent_kafka.admin import NewTopic

        driver = self.driver
        if _ready(driver._refresh().topics, _LOCK):
            return
        with driver._translating(f"creating the lock topic {_LOCK}", expected=("TOPIC_ALREADY_EXISTS",)):
            driver.admin.create_topics([NewTopic(_LOCK, num_partitions=1)], **driver._kwargs())[_LOCK].result()
        if driver._wait_for_metadata([_LOCK], present=True):
            raise BrokerError(f"Kafka at {driver.bootstrap}: the lock topic {_LOCK} has no leader yet; try again")

    def take(self, wait: float) -> None:
        if self.thread is not None:
            return
        self._topic()
        try:
            with self.driver._translating(f"joining the lock group {_LOCK}"):
                self._join()
                self._wait_for_assignment(wait)
        except BrokerError:
            self.release()
            raise
        self.thread = threading.Thread(target=self._serve, name="topology-kafka-lock", daemon=True)
        self.thread.start()

    def _join(self) -> None:
        from confluent_kafka import Consumer

        settings = {key: value for key, value in self.driver.settings.items() if key != "error_cb"}
        self.consumer = Consumer({
            **settings, "group.id": _LOCK, "client.id": self.holder[:200], "enable.auto.commit": False,
            "session.timeout.ms": _LOCK_SESSION_MS, "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 86_400_000, "partition.assignment.strategy": "cooperative-sticky"})
        self.consumer.subscribe([_LOCK])

    def _wait_for_assignment(self, wait: float) -> None:
        """Until the group assigns the lock partition to us; LockedError naming the holder after `wait`."""
        start = time.monotonic()
        settle = start + self.driver.read_timeout  # joining a free lock's group takes a few round trips
        checked = start
        while not self._held():
            self.consumer.poll(0.1)
            now = time.monotonic()
            if now - checked < 0.5 and now < settle:
                continue
            checked = now
            holder = self._current_holder()
            if (holder is not None and now > start + wait) or now > max(settle, start + wait):
                raise LockedError(f"another apply holds the lock of Kafka at {self.driver.bootstrap}: "
                                  f"{holder or 'a holder the group is still settling on'}; waited {wait:g}s. Try "
                                  f"again when it is done (a holder that died frees it within "
                                  f"{_LOCK_SESSION_MS // 1000}s)")

    def _held(self) -> bool:
        return any(tp.topic == _LOCK for tp in self.consumer.assignment())

    def _serve(self) -> None:
        while not self.stop.wait(0.2):
            self.consumer.poll(0)

    def _current_holder(self) -> str | None:
        """Who else holds the lock partition now, as the group reports it; None when nobody else does."""
        driver = self.driver
        try:
            with driver._translating(f"describing the lock group {_LOCK}"):
                group = driver.admin.describe_consumer_groups([_LOCK], **driver._kwargs())[_LOCK].result()
        except BrokerError:
            return None
        ours = self.consumer.memberid() if self.consumer is not None else None
        for member in group.members:
            if member.member_id != ours and member.assignment and any(
                    tp.topic == _LOCK for tp in member.assignment.topic_partitions):
                return f"{member.client_id} (from {member.host.lstrip('/')})"
        return None

    def release(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None
        consumer, self.consumer = self.consumer, None
        if consumer is None:
            return
        try:
            with self.driver._translating(f"leaving the lock group {_LOCK}"):
                consumer.close()  # leaves the group at once, so the next apply gets the lock now
        except BrokerError as exc:
            print(f"warning: {exc}; the apply lock frees itself within {_LOCK_SESSION_MS // 1000}s",
                  file=sys.stderr)
