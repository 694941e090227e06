"""The Kafka driver: confluent-kafka's AdminClient, and kafka-python for partition reassignment.

Reads in bulk: one metadata request for topics, partitions and replicas, one DescribeConfigs for
every topic in scope (only DYNAMIC_TOPIC_CONFIG entries count as declared config), ACLs by one
filter, groups by id. Writes in batches: one CreateTopics for all new topics, then waits until the
metadata agrees; CreatePartitions for growth; IncrementalAlterConfigs SET and DELETE (so a key
removed from the file loses its override); AlterPartitionReassignments for a new replication
factor, waited for until it completes; consumer groups created by committing their initial
offsets, never moved afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from topology.drivers.base import ChangeResult, Driver, Live, Scope
from topology.errors import BrokerError, BrokerUnavailable
from topology.kafka_config import TOPIC_CONFIG
from topology.plan import Change
from topology.resources import Resource

__all__ = ["KafkaDriver"]

_CONNECT_TIMEOUT_S = 8.0
_WAIT_S = 60.0
_QUIET = logging.getLogger("topology.kafka.client")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def _normalise_live_config(config: Mapping[str, str]) -> dict[str, str]:
    normalised = {}
    for key, value in config.items():
        parse = TOPIC_CONFIG.get(key)
        try:
            normalised[key] = parse(value) if parse else value
        except ValueError:
            normalised[key] = value
    return normalised


def _ready(topics: Mapping[str, Any], name: str) -> bool:
    """Listed without error, and every partition has a leader (so offsets can be read and committed)."""
    topic = topics.get(name)
    return topic is not None and not topic.error and bool(topic.partitions) and all(
        p.leader >= 0 and not p.error for p in topic.partitions.values())


_RETRIABLE = ("NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PART", "NOT_COORDINATOR",
              "COORDINATOR_NOT_AVAILABLE", "COORDINATOR_LOAD_IN_PROGRESS", "REBALANCE_IN_PROGRESS")


def _retriable(error: Any) -> bool:
    """Worth asking again: Kafka says so, or it is a coordinator or leader still settling."""
    from confluent_kafka import KafkaError

    return isinstance(error, KafkaError) and (error.retriable() or error.name() in _RETRIABLE or not error.str())


class KafkaDriver(Driver):
    name = "kafka"

    def __init__(self, bootstrap_servers: str, *, config: Mapping[str, str] | None = None,
                 parallelism: int = 10) -> None:
        from confluent_kafka.admin import AdminClient

        self.bootstrap = bootstrap_servers
        self.config = dict(config or {})
        self.parallelism = parallelism
        self.settings: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 10000,
                                         "logger": _QUIET, **self.config}
        self.admin = AdminClient(self.settings)
        self._metadata: Any = None
        self._check()

    # ----------------------------------------------------------------------------- connection

    def _fail(self, exc: Exception, doing: str) -> BrokerError:
        from confluent_kafka import KafkaError

        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        code = error.code() if error is not None else None
        if code in (KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._AUTHENTICATION):
            return BrokerUnavailable(f"Kafka at {self.bootstrap} rejected topology's credentials while {doing} "
                                     "(authentication failed); check the target's SASL settings")
        if code in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                    KafkaError.GROUP_AUTHORIZATION_FAILED):
            return BrokerError(f"Kafka at {self.bootstrap} denied topology's principal while {doing} "
                               "(authorization failed); grant it the needed ACLs")
        if code in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
                    KafkaError._RESOLVE):
            return BrokerUnavailable(f"Kafka at {self.bootstrap} is not reachable ({doing} timed out); check "
                                     "bootstrap_servers and that the cluster is running")
        detail = f"{error.name()}: {error.str()}" if error is not None else str(exc)
        return BrokerError(f"Kafka at {self.bootstrap}: {doing} failed ({detail})")

    def _check(self) -> None:
        from confluent_kafka import KafkaException

        try:
            self._metadata = self.admin.list_topics(timeout=_CONNECT_TIMEOUT_S)
        except KafkaException as exc:
            raise self._fail(exc, "reading cluster metadata") from exc

    def _refresh(self) -> Any:
        from confluent_kafka import KafkaException

        try:
            self._metadata = self.admin.list_topics(timeout=_CONNECT_TIMEOUT_S * 2)
        except KafkaException as exc:
            raise self._fail(exc, "reading cluster metadata") from exc
        return self._metadata

    # ---------------------------------------------------------------------------------- inspect

    def inspect(self, scope: Scope) -> dict[str, Live]:
        # The metadata read on connecting is fresh enough for the first inspect; later ones re-read.
        metadata, self._metadata = (self._metadata, None) if self._metadata is not None else (self._refresh(), None)
        live: dict[str, Live] = {}
        topics = sorted(name for name in metadata.topics if not name.startswith("__")
                        and scope.wants(f"kafka/topic/{name}"))
        configs = self._topic_configs(topics)
        for name in topics:
            partitions = metadata.topics[name].partitions
            replication = len(partitions[0].replicas) if partitions else 0
            live[f"kafka/topic/{name}"] = Live("kafka.topic", {
                "partitions": len(partitions), "replication_factor": replication,
                "config": configs.get(name, {})}, name=name)
        if scope.prune or any(a.startswith("kafka/acl/") for a in scope.addresses):
            for address, item in self._acls().items():
                if scope.wants(address):
                    live[address] = item
        groups = {a.removeprefix("kafka/group/") for a in scope.addresses if a.startswith("kafka/group/")}
        if scope.prune:
            groups |= self._group_ids()
        live.update({a: item for a, item in self._groups(sorted(groups)).items() if scope.wants(a)})
        return live

    def _topic_configs(self, topics: Sequence[str]) -> dict[str, dict[str, str]]:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

        if not topics:
            return {}
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in topics]
        found: dict[str, dict[str, str]] = {}
        try:
            for resource, future in self.admin.describe_configs(resources, request_timeout=30).items():
                entries = future.result()
                found[resource.name] = _normalise_live_config({
                    key: entry.value for key, entry in entries.items()
                    if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value and entry.value is not None})
        except KafkaException as exc:
            raise self._fail(exc, "describing topic configs") from exc
        return found

    def _acls(self) -> dict[str, Live]:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import (
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        query = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                 AclPermissionType.ANY)
        try:
            bindings = self.admin.describe_acls(query, request_timeout=30).result()
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.SECURITY_DISABLED:
                raise BrokerError(f"the Kafka cluster at {self.bootstrap} has no authorizer, so ACLs cannot be "
                                  "managed: set authorizer.class.name on the brokers, or remove the `acls:` "
                                  "section") from exc
            raise self._fail(exc, "describing ACLs") from exc
        live = {}
        for binding in bindings:
            resource_type = binding.restype.name.lower()
            pattern = binding.resource_pattern_type.name.lower()
            operation = binding.operation.name.lower()
            address = f"kafka/acl/{binding.principal}/{resource_type}/{pattern}/{binding.name}/{operation}"
            live[address] = Live("kafka.acl", {
                "principal": binding.principal, "host": binding.host, "resource_type": resource_type,
                "resource_name": binding.name, "pattern_type": pattern, "operation": operation,
                "permission": binding.permission_type.name.lower()}, name=f"{binding.principal}/{operation}")
        return live

    def _group_ids(self) -> set[str]:
        result = self.admin.list_consumer_groups(request_timeout=30).result()
        return {group.group_id for group in result.valid}

    def _groups(self, ids: Sequence[str]) -> dict[str, Live]:
        from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, KafkaException

        if not ids:
            return {}
        live: dict[str, Live] = {}
        described: dict[str, Any] = {}
        pending, deadline = list(ids), time.monotonic() + _WAIT_S
        while pending:  # a cluster that just started may still be loading its group coordinator
            retry = []
            for group, future in self.admin.describe_consumer_groups(pending, request_timeout=30).items():
                try:
                    described[group] = future.result()
                except KafkaException as exc:
                    error = exc.args[0]
                    if isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_ID_NOT_FOUND:
                        continue  # never existed: nothing live
                    if _retriable(error) and time.monotonic() < deadline:
                        retry.append(group)
                        continue
                    raise self._fail(exc, f"describing consumer group {group}") from exc
            pending = retry
            if pending:
                time.sleep(0.5)
        for group, description in described.items():
            try:
                offsets = self.admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group)], request_timeout=30)[group].result()
            except KafkaException as exc:
                raise self._fail(exc, f"reading the offsets of consumer group {group}") from exc
            topics = sorted({tp.topic for tp in offsets.topic_partitions or [] if tp.offset >= 0})
            if description.state == ConsumerGroupState.DEAD and not topics:
                continue
            live[f"kafka/group/{group}"] = Live("kafka.group", {"topics": topics}, name=group)
        return live

    def count_messages(self, live: Mapping[str, Live]) -> dict[str, int | None]:
        """Messages held by topics about to be deleted: the sum over partitions of end - start offset."""
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        metadata = self._refresh()
        counts: dict[str, int | None] = {}
        for address, item in live.items():
            if item.kind != "kafka.topic" or item.name not in metadata.topics:
                continue
            partitions = [TopicPartition(item.name, p) for p in metadata.topics[item.name].partitions]
            low = self.admin.list_offsets({tp: OffsetSpec.earliest() for tp in partitions}, request_timeout=30)
            high = self.admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions}, request_timeout=30)
            counts[address] = sum(high[tp].result().offset - low[tp].result().offset for tp in partitions)
        return counts

    # ------------------------------------------------------------------------------------ apply

    def apply(self, changes: Sequence[Change], desired: Mapping[str, Resource]) -> list[ChangeResult]:
        creates = [c for c in changes if c.kind == "kafka.topic" and c.action == "create"]
        deletes = [c for c in changes if c.kind == "kafka.topic" and c.action == "delete"]
        acls = [c for c in changes if c.kind == "kafka.acl"]
        results = self._create_topics(creates) + self._delete_topics(deletes) + self._apply_acls(acls)
        batched = {c.address for c in (*creates, *deletes, *acls)}
        for change in changes:
            if change.address in batched:
                continue
            try:
                if change.kind == "kafka.topic":
                    self._update_topic(change)
                elif change.kind == "kafka.group":
                    self._apply_group(change)
                else:
                    raise BrokerError(f"the Kafka driver does not manage {change.kind}")
                results.append(ChangeResult(change.address, True))
            except BrokerError as exc:
                results.append(ChangeResult(change.address, False, str(exc)))
        return results

    def _wait_for_metadata(self, names: Iterable[str], present: bool) -> list[str]:
        """Wait until the metadata lists (or no longer lists) every topic; returns the stragglers."""
        pending = set(names)
        deadline = time.monotonic() + _WAIT_S
        while pending and time.monotonic() < deadline:
            topics = self._refresh().topics
            pending = {n for n in pending if _ready(topics, n) != present}
            if pending:
                time.sleep(0.05)
        return sorted(pending)

    def _create_topics(self, changes: Sequence[Change]) -> list[ChangeResult]:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic

        if not changes:
            return []
        new = []
        for change in changes:
            after = change.after or {}
            new.append(NewTopic(change.name, num_partitions=after.get("partitions", -1),
                                replication_factor=after.get("replication_factor", -1),
                                config=dict(after.get("config", {}))))
        futures = self.admin.create_topics(new, operation_timeout=30, request_timeout=60)
        errors: dict[str, str] = {}
        for topic, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                error = exc.args[0]
                if not (isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                    errors[topic] = str(self._fail(exc, f"creating topic {topic}"))
        late = self._wait_for_metadata([c.name for c in changes if c.name not in errors], present=True)
        for topic in late:
            errors[topic] = f"topic {topic} was created but the metadata did not list it within {_WAIT_S:.0f}s"
        return [ChangeResult(c.address, c.name not in errors, errors.get(c.name)) for c in changes]

    def _delete_topics(self, changes: Sequence[Change]) -> list[ChangeResult]:
        from confluent_kafka import KafkaError, KafkaException

        if not changes:
            return []
        errors: dict[str, str] = {}
        for topic, future in self.admin.delete_topics([c.name for c in changes], operation_timeout=30).items():
            try:
                future.result()
            except KafkaException as exc:
                error = exc.args[0]
                if not (isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
                    errors[topic] = str(self._fail(exc, f"deleting topic {topic}"))
        for topic in self._wait_for_metadata([c.name for c in changes if c.name not in errors], present=False):
            errors[topic] = f"topic {topic} is still listed {_WAIT_S:.0f}s after its deletion"
        return [ChangeResult(c.address, c.name not in errors, errors.get(c.name)) for c in changes]

    def _update_topic(self, change: Change) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions, ResourceType

        before, after = change.before or {}, change.after or {}
        changed = {a.name for a in change.attributes}
        try:
            if "partitions" in changed and after.get("partitions", 0) > before.get("partitions", 0):
                self.admin.create_partitions([NewPartitions(change.name, after["partitions"])],
                                             operation_timeout=30)[change.name].result()
            if "config" in changed:
                old, new = before.get("config", {}), after.get("config", {})
                entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                           for k, v in new.items() if old.get(k) != v]
                entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                            for k in old if k not in new]
                resource = ConfigResource(ResourceType.TOPIC, change.name, incremental_configs=entries)
                for future in self.admin.incremental_alter_configs([resource]).values():
                    future.result()
        except KafkaException as exc:
            raise self._fail(exc, f"updating topic {change.name}") from exc
        if "replication_factor" in changed:
            self._reassign(change.name, int(after["replication_factor"]))

    def _reassign(self, topic: str, replication: int) -> None:
        """Move every partition to `replication` replicas, spread evenly, and wait for it to finish."""
        from kafka import KafkaAdminClient, TopicPartition

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
        client = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","), client_id="topology")
        try:
            errors = {tp: err for tp, err in client.alter_partition_reassignments(plan).items() if err}
            if errors:
                raise BrokerError(f"topic {topic}: the reassignment was refused: {errors}")
            deadline = time.monotonic() + _WAIT_S * 5
            while client.list_partition_reassignments(list(plan)):
                if time.monotonic() > deadline:
                    raise BrokerError(f"topic {topic}: the reassignment to {replication} replicas is still running")
                time.sleep(0.5)
        finally:
            client.close()
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            partitions = self._refresh().topics[topic].partitions
            if all(len(p.replicas) == replication for p in partitions.values()):
                return
            time.sleep(0.3)
        raise BrokerError(f"topic {topic}: metadata does not show {replication} replicas yet")

    def _apply_group(self, change: Change) -> None:
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
        from confluent_kafka.admin import OffsetSpec

        group = change.name
        if change.action == "delete":
            try:
                self.admin.delete_consumer_groups([group], request_timeout=30)[group].result()
            except KafkaException as exc:
                error = exc.args[0]
                if isinstance(error, KafkaError) and error.code() == KafkaError.NON_EMPTY_GROUP:
                    raise BrokerError(f"consumer group {group} still has members; stop them before deleting it")\
                        from exc
                if not (isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_ID_NOT_FOUND):
                    raise self._fail(exc, f"deleting consumer group {group}") from exc
            return
        after = change.after or {}
        have = set((change.before or {}).get("topics", []))
        missing = [t for t in after.get("topics", []) if t not in have]
        metadata = self._refresh()
        spec = OffsetSpec.earliest() if after.get("initial_offset") == "earliest" else OffsetSpec.latest()
        partitions = [TopicPartition(t, p) for t in missing if t in metadata.topics
                      for p in metadata.topics[t].partitions]
        absent = [t for t in missing if t not in metadata.topics]
        if absent:
            raise BrokerError(f"consumer group {group}: topic {absent[0]} does not exist")
        if not partitions:
            return
        deadline = time.monotonic() + _WAIT_S
        while True:  # a topic created a moment ago may still be electing leaders: retry what is retriable
            try:
                offsets = self.admin.list_offsets({tp: spec for tp in partitions}, request_timeout=30)
                committed = [TopicPartition(tp.topic, tp.partition, offsets[tp].result().offset) for tp in partitions]
                request = ConsumerGroupTopicPartitions(group, committed)
                self.admin.alter_consumer_group_offsets([request], request_timeout=30)[group].result()
                return
            except KafkaException as exc:
                if not _retriable(exc.args[0]) or time.monotonic() > deadline:
                    raise self._fail(exc, f"committing the initial offsets of consumer group {group}") from exc
                time.sleep(0.3)

    def _apply_acls(self, changes: Sequence[Change]) -> list[ChangeResult]:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import (
            AclBinding,
            AclBindingFilter,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        results = []
        for change in changes:
            data = change.after if change.action != "delete" else change.before
            assert data is not None
            fields = (ResourceType[data["resource_type"].upper()], data["resource_name"],
                      ResourcePatternType[data["pattern_type"].upper()], data["principal"], data["host"],
                      AclOperation[data["operation"].upper()], AclPermissionType[data["permission"].upper()])
            try:
                if change.action == "delete":
                    query = AclBindingFilter(*fields)
                    self.admin.delete_acls([query], request_timeout=30)[query].result()
                else:
                    binding = AclBinding(*fields)
                    self.admin.create_acls([binding], request_timeout=30)[binding].result()
                results.append(ChangeResult(change.address, True))
            except KafkaException as exc:
                error = exc.args[0]
                if isinstance(error, KafkaError) and error.code() == KafkaError.SECURITY_DISABLED:
                    message = (f"the Kafka cluster at {self.bootstrap} has no authorizer, so ACLs cannot be managed: "
                               "set authorizer.class.name on the brokers, or remove the `acls:` section")
                else:
                    message = str(self._fail(exc, "changing an ACL"))
                results.append(ChangeResult(change.address, False, message))
        return results
