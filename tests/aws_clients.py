"""AWS drivers on moto's server whose clients a test can wrap: the driver makes its clients as it always
does, and the fixture wraps the real (moto-backed) ones it made, passing every call through except
the few a test overrides, where AWS answers differently from moto or a failure is injected. (Faults at
the socket, in front of moto, are tests/faults.py's.)

    from tests.aws_clients import AwsDrivers, Faulty, aws_driver_fixture  # noqa: F401 - the fixture

    def test_something(aws_driver: AwsDrivers) -> None:
        faulty = Faulty(create_queue=lambda real, **kwargs: ...)
        driver = aws_driver(sqs=faulty)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import AWS_ENDPOINT_URL
from topology.brokers.aws.driver import AwsDriver

__all__ = ["AwsDrivers", "Faulty", "aws_driver_fixture"]


class Faulty:
    """Faults for one service's client: each operation named here goes through `fault(real, **kwargs)`
    (which may call the real one); every other call goes to the real client unchanged. `before`, when
    given, is called with the name of every operation before it runs (and may raise in its place)."""

    def __init__(self, *, before: Callable[[str], None] | None = None, **faults: Callable[..., Any]) -> None:
        self.before = before
        self.faults = faults
        self.calls: list[str] = []  # the overridden operations, in the order they were called

    def wrap(self, client: Any) -> Any:
        return _Wrapped(client, self)


class _Wrapped:
    def __init__(self, client: Any, faulty: Faulty) -> None:
        self._client = client
        self._faulty = faulty

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        fault = self._faulty.faults.get(name)
        before = self._faulty.before
        if name not in self._client.meta.method_to_api_mapping or (fault is None and before is None):
            return real

        def call(**kwargs: Any) -> Any:
            if before is not None:
                before(name)
            if fault is None:
                return real(**kwargs)
            self._faulty.calls.append(name)
            return fault(real, **kwargs)
        return call


class AwsDrivers:
    """Makes AwsDrivers on moto's server (`endpoint_url` overrides it), with faults per service."""

    def __init__(self) -> None:
        self.faults: weakref.WeakKeyDictionary[AwsDriver, dict[str, Faulty]] = weakref.WeakKeyDictionary()

    def __call__(self, *, sqs: Faulty | None = None, sns: Faulty | None = None, sts: Faulty | None = None,
                 **options: Any) -> AwsDriver:
        options.setdefault("endpoint_url", AWS_ENDPOINT_URL)
        driver = AwsDriver(region="us-east-1", **options)
        self.faults[driver] = {name: f for name, f in (("sqs", sqs), ("sns", sns), ("sts", sts)) if f is not None}
        return driver

    def wrapped(self, driver: AwsDriver, service: str, client: Any) -> Any:
        faulty = self.faults.get(driver, {}).get(service)
        return faulty.wrap(client) if faulty is not None else client


@pytest.fixture(name="aws_driver")
def aws_driver_fixture(aws_clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsDrivers]:
    """AwsDrivers on a freshly reset moto, with moto's test credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    drivers = AwsDrivers()
    make = AwsDriver._new_client

    def new_client(driver: AwsDriver, service: str) -> Any:
        return drivers.wrapped(driver, service, make(driver, service))

    monkeypatch.setattr(AwsDriver, "_new_client", new_client)
    yield drivers

