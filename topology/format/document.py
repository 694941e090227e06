"""The whole topology document: version, targets, manage, naming, broker sections, expectations.

The broker-independent parts are declared here; each broker adds its sections, its target and its
`naming:` templates (its `Broker` in `brokers/<name>/`), and `Document` is assembled from them once,
through the registry, so the format, its checks and the JSON Schema all come from the same models.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, model_validator

from topology.format.common import Spec, TargetSpec
from topology.format.monitoring import Monitoring

__all__ = ["Document", "Expectation", "Manage", "Publish", "document_model", "target_variable"]


def target_variable(name: str) -> str:
    """The environment variable that says where target `name` lives: TOPOLOGY_TARGET_<NAME>, with any
    character a shell variable cannot hold (the `-` of `orders-eu`) written as `_`."""
    return "TOPOLOGY_TARGET_" + re.sub(r"[^A-Z0-9_]", "_", name.upper())


class Manage(Spec):
    prune: bool = Field(False, description="Delete live resources in scope that the files do not declare.")
    include: list[str] = Field(
        default_factory=list, description="Address globs apply may delete, e.g. kafka/topic/shop.*")
    exclude: list[str] = Field(default_factory=list, description="Address globs never deleted.")


class Publish(Spec):
    vhost: str | None = Field(None, description="RabbitMQ vhost of the exchange.")
    exchange: str | None = Field(None, description="RabbitMQ exchange to publish to (\"\" is the default exchange).")
    routing_key: str = Field("", description="Routing key.")
    headers: dict[str, Any] = Field(default_factory=dict, description="Message headers (headers exchanges).")
    sns_topic: str | None = Field(None, description="SNS topic to publish to.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="SNS message attributes.")
    body: dict[str, Any] | None = Field(None, description="SNS message body, for body-scoped filter policies.")

    @model_validator(mode="after")
    def _one_broker(self) -> Publish:
        if (self.exchange is None) == (self.sns_topic is None):
            raise ValueError("give either `exchange` (with `vhost`) or `sns_topic`")
        if self.exchange is not None and self.vhost is None:
            raise ValueError("a RabbitMQ publish needs `vhost`")
        return self


class Expectation(Spec):
    publish: Publish = Field(description="The probe message: where it is published, with what key or attributes.")
    delivered_to: list[str] = Field(description="Exactly the queues that must receive the message.")


class Document(Spec):
    """The fields every document has; the assembled model (`Document` below) adds the brokers'."""

    version: Literal[1] = Field(description="Format version; always 1.")
    vars: dict[str, Any] = Field(default_factory=dict, description="Values for jinja2: {{ vars.name }}.")
    environments: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Overlays selected with --env NAME, deep-merged over the document.")
    targets: dict[str, TargetSpec] = Field(default_factory=dict, description="Where each broker lives.")
    manage: Manage = Field(default_factory=Manage, description="What apply may delete; default: nothing.")
    naming: Spec = Field(default_factory=Spec, description="Templates for generated names.")
    expectations: list[Expectation] = Field(default_factory=list, description="Routing assertions for `topology test`.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="How the declared objects are watched: "
                                   "`topology status`, `alerts` and `exporter`.")

    def section(self, key: str) -> Any:
        """A broker's section (`rabbitmq`, `sqs`), or None when the document has none."""
        return getattr(self, key, None)


@cache
def document_model() -> type[Document]:
    """`Document` with every broker's target kinds, `naming:` templates and sections, in registry order."""
    from topology.brokers.registry import brokers

    every = brokers()
    target = Annotated[Union[tuple(b.target for b in every)], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
    naming: Any = create_model("Naming", __base__=Spec, **{  # type: ignore[call-overload]
        template.field: (str, Field(template.default, description=template.description))
        for b in every for template in b.naming})
    fields: dict[str, Any] = {
        "targets": (dict[str, target], Field(default_factory=dict, description="Where each broker lives.")),  # type: ignore[valid-type]
        "naming": (naming, Field(default_factory=naming, description="Templates for generated names.")),
    }
    for b in every:
        for section in b.sections:
            fields[section.key] = (section.model | None, Field(None, description=section.description))
    fields["expectations"] = (list[Expectation], Field(default_factory=list,
                                                       description="Routing assertions for `topology test`."))
    model: type[Document] = create_model("Document", __base__=Document, **fields)
    model.__doc__ = None
    return model

