"""The Redis Streams driver passes the driver contract against the real Redis.

Streams have no attribute that forces a replace and none that changes in place without losing
entries (`max_length` trims), so the suite's replace and in-place tests become their Redis
counterparts: deleting a stream that holds entries needs --allow-data-loss, deleting an empty one
only --allow-delete, and lowering max_length below the length is a trim planned as data loss.
Drift is a group or a stream removed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REDIS_URL
from tests.contract.suite import ContractSuite, Harness

pytestmark = pytest.mark.redis


class RedisHarness(Harness):
    def __init__(self, folder: Path, client: Any, prefix: str) -> None:
        super().__init__(folder)
        self.client, self.prefix = client, prefix
        self.queue = f"redis/stream/{prefix}orders"
        self.updatable = f"redis/group/{prefix}orders/billing"
        self.removable = f"redis/stream/{prefix}emails"

    def document(self, variant: str) -> str:
        max_length = 5 if variant == "update" else 1000
        emails = "" if variant.startswith("smaller") else f"    {self.prefix}emails: {{groups: {{mailer: {{}}}}}}\n"
        manage = f"manage: {{prune: true, include: ['redis/stream/{self.prefix}*']}}\n" \
            if variant == "smaller-pruned" else ""
        return f"""version: 1
targets:
  cache: {{kind: redis, url: "{REDIS_URL}"}}
{manage}redis:
  target: cache
  streams:
    {self.prefix}orders:
      max_length: {max_length}
      groups: {{billing: {{start: "0"}}, audit: {{start: "$"}}}}
{emails}"""


    def set_messages(self, address: str, count: int) -> None:
        key = address.removeprefix("redis/stream/")
        for index in range(count):
            self.client.xadd(key, {"n": index})

    def live(self) -> dict[str, dict[str, Any]]:
        live: dict[str, dict[str, Any]] = {}
        for key in self.client.scan_iter(match=f"{self.prefix}*", _type="stream"):
            live[f"redis/stream/{key}"] = {"length": self.client.xlen(key)}
            for group in self.client.xinfo_groups(key):
                live[f"redis/group/{key}/{group['name']}"] = group
        return live

    def drift_change(self, address: str, attribute: str, value: Any) -> None:
        key, group = address.removeprefix("redis/group/").rsplit("/", 1)
        self.client.xgroup_destroy(key, group)

    def drift_remove(self, address: str) -> None:
        self.client.delete(address.removeprefix("redis/stream/"))


class TestRedisDriver(ContractSuite):
    @pytest.fixture
    def harness(self, tmp_path: Path, redis_prefix: tuple[Any, str]) -> Iterator[Harness]:
        client, prefix = redis_prefix
        yield RedisHarness(tmp_path, client, prefix)

    def drift_attribute(self) -> tuple[str, Any]:
        return "exists", False

    def writes_for_base(self) -> int:
        return 2  # streams; then their groups

    def test_drift_is_planned_back(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        harness.drift_change(harness.updatable, "exists", False)  # a group destroyed by hand
        assert harness.actions("base") == {harness.updatable: "create"}
        harness.drift_remove(harness.removable)
        actions = harness.actions("base")
        assert actions[harness.removable] == "create"
        assert actions[f"redis/group/{harness.removable.removeprefix('redis/stream/')}/mailer"] == "create"
        assert harness.apply("base").code == 0
        assert harness.actions("base") == {}

    def test_stale_saved_plan_is_refused(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        harness.set_messages(harness.queue, 7)  # so that `update` (max_length 5) has a trim to plan
        saved = harness.folder / "update.plan.json"
        assert harness.run("plan", harness.write("update"), "--out", str(saved)).code == 0
        shown = harness.run("show", str(saved))
        assert shown.code == 0 and f"~ {harness.queue}" in shown.stdout
        harness.drift_remove(harness.removable)
        stale = harness.run("apply", str(saved), "--auto-approve", "--allow-data-loss")
        assert stale.code == 1 and "stale" in stale.stderr
        fresh = harness.folder / "fresh.plan.json"
        assert harness.run("plan", harness.write("update"), "--out", str(fresh)).code == 0
        applied = harness.run("apply", str(fresh), "--auto-approve", "--allow-data-loss")
        assert applied.code == 0, applied.stderr
        assert harness.actions("update") == {}

    def test_in_place_update(self, harness: Harness) -> None:
        assert harness.apply("base").code == 0
        harness.set_messages(harness.queue, 7)
        plan = harness.plan_json("update")
        [change] = plan["changes"]
        assert (change["address"], change["action"], change["loses_data"]) == (harness.queue, "update", True)
        assert change["reasons"] == ["loses data: 2 entries (trimmed to max_length)"]
        refused = harness.apply("update")
        assert refused.code == 1 and "--allow-data-loss" in refused.stderr
        assert harness.live()[harness.queue]["length"] == 7
        assert harness.apply("update", "--allow-data-loss").code == 0
        assert harness.live()[harness.queue]["length"] == 5
        assert harness.actions("update") == {}

    def test_immutable_change_is_a_replace_that_guards_messages(self, harness: Harness) -> None:
        # The suite's check_delete_guards_messages, with the plan counting entries (the kind's unit).
        assert harness.apply("base").code == 0
        harness.set_messages(harness.removable, 4)
        changes = harness.plan_json("smaller-pruned")["changes"]
        change = next(c for c in changes if c["address"] == harness.removable)
        assert (change["action"], change["loses_data"], change["needs_empty"]) == ("delete", True, False)
        assert "loses data: 4 entries" in change["reasons"]
        refused = harness.apply("smaller-pruned", "--allow-delete")
        assert refused.code == 1 and "--allow-data-loss" in refused.stderr
        assert harness.live()[harness.removable]["length"] == 4
        allowed = harness.apply("smaller-pruned", "--allow-delete", "--allow-data-loss")
        assert allowed.code == 0, allowed.stderr
        assert harness.removable not in harness.live()


    def test_replacing_an_empty_queue_needs_no_flag(self, harness: Harness) -> None:
        # The include glob covers streams only: the group goes with its stream, as Redis deletes it.
        self.check_empty_delete_needs_no_data_flag(harness)
