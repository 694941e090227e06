"""What the users topology connects to RabbitMQ as need to keep working: never planned away unless declared.

Topology talks to the management API as the user of the target's `url`, and over AMQP (exact message
counts, the apply lock, live routing probes) as the user of `amqp_url` (by default the same one). Deleting
either user, or a permission of theirs in any vhost, locks topology out of what follows in the same apply
(the broker answers "wrong credentials" or "access refused"). Topic permissions are not among them: a user
with no topic permission for an exchange may use every routing key on it, so deleting one takes no access
away.
"""

from __future__ import annotations

from collections.abc import Mapping

from topology.brokers.base import Live

__all__ = ["connecting_users", "own_access"]


def own_access(live: Mapping[str, Live], users: Mapping[str, str]) -> dict[str, str]:
    """Of `live`, the users in `users` (name -> how topology uses it, e.g. "whom topology connects as") and
    their permissions, each with what it is."""
    found: dict[str, str] = {}
    for address, item in live.items():
        role = users.get(item.name)
        if role is None:
            continue
        if item.kind == "rabbitmq.user":
            found[address] = f"the user `{item.name}`, {role}"
        elif item.kind == "rabbitmq.permission":
            found[address] = f"the permission of user `{item.name}` in vhost `{item.scope}`, {role}"
    return found


def connecting_users(api_user: str, amqp_user: str) -> dict[str, str]:
    """The users topology connects as, and how: the management API's and AMQP's (one user, usually)."""
    if api_user == amqp_user:
        return {api_user: "whom topology connects as"}
    return {api_user: "whom topology connects to the management API as",
            amqp_user: "whom topology connects over AMQP as (the target's amqp_url)"}
