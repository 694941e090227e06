"""The local Redis is real: a consumer group created with MKSTREAM exists, then is gone."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.redis


def test_stream_group_created_and_destroyed(redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    stream = f"{prefix}orders"
    assert client.xgroup_create(stream, "billing", id="$", mkstream=True) is True

    groups = client.xinfo_groups(stream)
    assert [(g["name"], g["consumers"], g["pending"]) for g in groups] == [("billing", 0, 0)]
    assert "lag" in groups[0]  # Redis 7 reports lag, which the driver's plan uses

    assert client.xgroup_destroy(stream, "billing") == 1
    assert client.xinfo_groups(stream) == []
    client.delete(stream)
    assert client.exists(stream) == 0
