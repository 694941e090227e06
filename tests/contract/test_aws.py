"""The SQS/SNS driver passes the driver contract against moto's server.

A FIFO change needs a new name (`.fifo`), so no valid file asks SQS or SNS for a replace; the two
replace tests of the suite become their SQS counterparts: deleting a queue that holds messages is
refused without --allow-data-loss, and deleting an empty one needs only --allow-delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AWS_ENDPOINT_URL, unique
from tests.contract.suite import ContractSuite, Harness

pytestmark = pytest.mark.aws


class AwsHarness(Harness):
    def __init__(self, folder: Path, sqs: Any, sns: Any) -> None:
        super().__init__(folder)
        self.sqs, self.sns = sqs, sns
        self.prefix = unique("contract")
        self.queue = f"sqs/queue/{self.prefix}-billing"
        self.updatable = self.queue
        self.removable = f"sqs/queue/{self.prefix}-emails"
        self.extra_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

    def document(self, variant: str) -> str:
        visibility = "45s" if variant == "update" else "30s"
        emails = "" if variant.startswith("smaller") else f"    {self.prefix}-emails: {{}}\n"
        manage = f"manage: {{prune: true, include: ['sqs/queue/{self.prefix}-*']}}\n" \
            if variant == "smaller-pruned" else ""
        return f"""version: 1
targets:
  aws: {{kind: aws, region: us-east-1, endpoint_url: "{AWS_ENDPOINT_URL}"}}
{manage}sqs:
  target: aws
  queues:
    {self.prefix}-billing:
      visibility_timeout: {visibility}
      dead_letter: {{queue: {self.prefix}-billing-dlq, max_receives: 3}}
{emails}sns:
  target: aws
  topics:
    {self.prefix}-events:
      subscriptions: [{{queue: {self.prefix}-billing, raw_message_delivery: true}}]
"""


    def extra_args(self, args: tuple[str, ...]) -> list[str]:
        # A killed apply's lock is a lease on an SQS message: SQS frees it when the lease (30 s) runs out.
        return ["--lock-timeout", "45s"] if args[:1] == ("apply",) else []

    def _url(self, address: str) -> str:
        url: str = self.sqs.get_queue_url(QueueName=address.removeprefix("sqs/queue/"))["QueueUrl"]
        return url

    def set_messages(self, address: str, count: int) -> None:
        url = self._url(address)
        for start in range(0, count, 10):
            entries = [{"Id": str(i), "MessageBody": f"message {i}"} for i in range(start, min(start + 10, count))]
            self.sqs.send_message_batch(QueueUrl=url, Entries=entries)

    def live(self) -> dict[str, dict[str, Any]]:
        urls = self.sqs.list_queues(QueueNamePrefix=self.prefix).get("QueueUrls", [])
        return {f"sqs/queue/{url.rsplit('/', 1)[-1]}": self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["All"]).get("Attributes", {}) for url in urls}

    def drift_change(self, address: str, attribute: str, value: Any) -> None:
        self.sqs.set_queue_attributes(QueueUrl=self._url(address), Attributes={attribute: str(value)})

    def drift_remove(self, address: str) -> None:
        self.sqs.delete_queue(QueueUrl=self._url(address))


class TestAwsDriver(ContractSuite):
    @pytest.fixture
    def harness(self, tmp_path: Path, aws_clients: tuple[Any, Any]) -> Iterator[Harness]:
        yield AwsHarness(tmp_path, *aws_clients)

    def drift_attribute(self) -> tuple[str, Any]:
        return "VisibilityTimeout", 99

    def writes_for_base(self) -> int:
        return 3  # the DLQ, emails and the topic; billing; the subscription

    def test_immutable_change_is_a_replace_that_guards_messages(self, harness: Harness) -> None:
        self.check_delete_guards_messages(harness, 12)


    def test_replacing_an_empty_queue_needs_no_flag(self, harness: Harness) -> None:
        self.check_empty_delete_needs_no_data_flag(harness)
