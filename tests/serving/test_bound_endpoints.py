"""An endpoint's caller is made once per service instance, not on every request: BentoML's descriptor
read the method's signature on each lookup (a twentieth of the worker under fraud load)."""

from __future__ import annotations

import inspect

import bentoml

from spend.serving.service import Spend, bind_endpoints


class Echo:
    @bentoml.api(route="/v1/echo")
    def echo(self, text: str, times: int = 2) -> str:
        return text * times


class LouderEcho(Echo):
    @bentoml.api(route="/v1/echo")
    def echo(self, text: str, times: int = 3) -> str:
        return text.upper() * times


def test_the_caller_is_made_once_and_answers_as_bentomls(monkeypatch):
    service = Echo()
    bind_endpoints(service)
    calls = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda f, *a, **k: calls.append(f) or real(f, *a, **k))
    first, again = service.echo, service.echo
    assert first is again and not calls  # no signature read per lookup
    assert first.local("ab") == "abab" and first.local("ab", times=1) == "ab"  # defaults as BentoML fills them
    unbound = Echo()
    assert unbound.echo is not unbound.echo and calls  # BentoML's own lookup makes one each time


def test_a_subclass_override_is_the_one_bound():
    service = LouderEcho()
    bind_endpoints(service)
    assert service.echo.local("ab") == "ABABAB"


def test_every_endpoint_of_the_service_is_bound_by_its_start_up():
    source = inspect.getsource(Spend.inner.__init__)
    assert "bind_endpoints(self)" in source
    apis = set(Spend.apis)
    bound = {name for klass in Spend.inner.__mro__ for name, member in vars(klass).items() if name in apis}
    assert apis and apis <= bound  # each api is a class attribute bind_endpoints walks
