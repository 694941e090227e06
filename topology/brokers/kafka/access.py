"""What the principal topology runs as on Kafka needs to keep working: never planned away unless declared.

Kafka names a client by its principal, which the listener's security protocol decides (with Kafka's default
principal builder): over SASL with PLAIN or SCRAM it is `User:<sasl.username>`; over PLAINTEXT, and over SSL
without a client certificate, it is `User:ANONYMOUS`. An ACL that allows that principal, or every user
(`User:*`), may be what lets topology read and change the cluster; so may the SCRAM credential it logs in
with. Deleting an ACL that denies something takes no access away, so deny ACLs are not among them.

The principal of a client certificate (SSL with `ssl.certificate.location`), of Kerberos (GSSAPI) and of
OAUTHBEARER is decided by the broker (`ssl.principal.mapping.rules`, `sasl.kerberos.principal.to.local.rules`,
the token's claims), which topology cannot see: there only the ACLs of `User:*` are kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from topology.brokers.base import Live
from topology.brokers.kafka.config import SCRAM_MECHANISMS, scram_address

__all__ = ["EVERY_USER", "own_access", "principal_of"]

EVERY_USER = "User:*"
_NAMED = ("PLAIN", *SCRAM_MECHANISMS)  # the SASL mechanisms whose principal is `User:<sasl.username>`


def principal_of(config: Mapping[str, str]) -> str | None:
    """The principal topology runs as, from the target's librdkafka settings; None where only the broker
    knows it (a client certificate, Kerberos, OAUTHBEARER)."""
    protocol = config.get("security.protocol", "plaintext").lower()
    if protocol == "plaintext" or (protocol == "ssl" and not _has_certificate(config)):
        return "User:ANONYMOUS"
    if protocol in ("sasl_plaintext", "sasl_ssl"):
        mechanism = _mechanism(config)
        username = config.get("sasl.username")
        if mechanism in _NAMED and username:
            return f"User:{username}"
    return None


def own_access(live: Mapping[str, Live], config: Mapping[str, str]) -> dict[str, str]:
    """Of `live`, the ACLs allowing topology's principal (or every user) and the SCRAM credential it logs in
    with, each with what it is."""
    principal = principal_of(config)
    found: dict[str, str] = {}
    for address, item in live.items():
        if item.kind != "kafka.acl" or item.attributes.get("permission") != "allow":
            continue
        granted = item.attributes.get("principal")
        if granted == principal:
            found[address] = f"an ACL allowing `{granted}`, the principal topology runs as"
        elif granted == EVERY_USER:
            found[address] = f"an ACL allowing `{EVERY_USER}`, which includes the principal topology runs as"
    mechanism = _mechanism(config)
    username = config.get("sasl.username")
    if mechanism in SCRAM_MECHANISMS and username:
        credential = scram_address(username, mechanism)
        if credential in live:
            found[credential] = f"the {mechanism} credential of user `{username}`, whom topology logs in as"
    return found


def _mechanism(config: Mapping[str, str]) -> str:
    return (config.get("sasl.mechanism") or config.get("sasl.mechanisms") or "GSSAPI").upper()


def _has_certificate(config: Mapping[str, str]) -> bool:
    return any(config.get(key) for key in ("ssl.certificate.location", "ssl.certificate.pem", "ssl.keystore.location"))
