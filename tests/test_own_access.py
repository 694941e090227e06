"""What each driver counts as the access of the identity topology connects as (`Driver.own_access`), without
a broker: the planner refuses to prune it (tests/brokers/test_*_own_access.py show that on the brokers)."""

from __future__ import annotations

import pytest

from topology.brokers.kafka.access import own_access as kafka_own_access
from topology.brokers.kafka.access import principal_of
from topology.brokers.kafka.config import acl_address, scram_address
from topology.brokers.rabbitmq.access import connecting_users
from topology.brokers.rabbitmq.access import own_access as rabbitmq_own_access
from topology.brokers.rabbitmq.driver import RabbitMQDriver
from topology.core.resource import Live


def _permission(vhost: str, user: str) -> tuple[str, Live]:
    return f"rabbitmq/{vhost}/permission/{user}", Live("rabbitmq.permission", {"user": user}, name=user, scope=vhost)


def test_rabbitmq_the_user_of_the_url_and_its_permissions_in_every_vhost() -> None:
    live = dict([_permission("eco-bulk", "admin"), _permission("/", "admin"), _permission("eco-bulk", "billing"),
                 ("rabbitmq/user/admin", Live("rabbitmq.user", {}, name="admin")),
                 ("rabbitmq/user/billing", Live("rabbitmq.user", {}, name="billing")),
                 ("rabbitmq/eco-bulk/topic-permission/admin/amq.topic",
                  Live("rabbitmq.topic_permission", {}, name="admin", scope="eco-bulk"))])
    own = rabbitmq_own_access(live, connecting_users("admin", "admin"))
    assert own == {
        "rabbitmq/eco-bulk/permission/admin":
            "the permission of user `admin` in vhost `eco-bulk`, whom topology connects as",
        "rabbitmq///permission/admin": "the permission of user `admin` in vhost `/`, whom topology connects as",
        "rabbitmq/user/admin": "the user `admin`, whom topology connects as"}


def test_rabbitmq_a_separate_amqp_user_is_kept_too() -> None:
    live = dict([_permission("shop", "ops"), _permission("shop", "counter"), _permission("shop", "billing")])
    own = rabbitmq_own_access(live, connecting_users("ops", "counter"))
    assert sorted(own) == ["rabbitmq/shop/permission/counter", "rabbitmq/shop/permission/ops"]
    assert "amqp_url" in own["rabbitmq/shop/permission/counter"]


def test_rabbitmq_driver_decodes_the_user_of_its_url() -> None:
    """The user is the URL's, percent-escapes decoded, and so is the AMQP URL's carried over."""
    driver = RabbitMQDriver("http://ops%40team%2Fa:p%23ss%2Fw%40rd%25@127.0.0.1:15672")
    live = dict([_permission("shop", "ops@team/a"), _permission("shop", "ops%40team%2Fa")])
    assert list(driver.own_access(live)) == ["rabbitmq/shop/permission/ops@team/a"]


@pytest.mark.parametrize(("config", "principal"), [
    ({}, "User:ANONYMOUS"),
    ({"security.protocol": "PLAINTEXT"}, "User:ANONYMOUS"),
    ({"security.protocol": "SSL"}, "User:ANONYMOUS"),
    ({"security.protocol": "SSL", "ssl.certificate.location": "me.pem"}, None),  # the broker maps the DN
    ({"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "ops"}, "User:ops"),
    ({"security.protocol": "sasl_plaintext", "sasl.mechanisms": "plain", "sasl.username": "ops"}, "User:ops"),
    ({"security.protocol": "SASL_SSL", "sasl.username": "ops"}, None),  # GSSAPI, librdkafka's default
    ({"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER"}, None),
])
def test_kafka_the_principal_topology_runs_as(config: dict[str, str], principal: str | None) -> None:
    assert principal_of(config) == principal


def _acl(principal: str, permission: str = "allow", name: str = "orders") -> tuple[str, Live]:
    binding = {"principal": principal, "resource_type": "topic", "pattern_type": "literal", "resource_name": name,
               "operation": "write", "permission": permission, "host": "*"}
    return acl_address(binding), Live("kafka.acl", binding)


def test_kafka_acls_allowing_the_principal_or_everyone_and_its_scram_credential() -> None:
    config = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "ops/1"}
    ours, everyone, denied, other = _acl("User:ops/1"), _acl("User:*"), _acl("User:ops/1", "deny"), _acl("User:bob")
    credential = scram_address("ops/1", "SCRAM-SHA-256")
    live = dict([ours, everyone, denied, other,
                 (credential, Live("kafka.scram_credential", {}, name="ops/1")),
                 (scram_address("ops/1", "SCRAM-SHA-512"), Live("kafka.scram_credential", {}, name="ops/1"))])
    own = kafka_own_access(live, config)
    assert sorted(own) == sorted([ours[0], everyone[0], credential])  # a deny takes nothing away
    assert own[ours[0]] == "an ACL allowing `User:ops/1`, the principal topology runs as"
    assert own[credential] == "the SCRAM-SHA-256 credential of user `ops/1`, whom topology logs in as"
