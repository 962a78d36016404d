"""The services that `eldercare run` starts on one machine never share a default port."""

from eldercare.settings import Settings


def test_default_ports_of_the_services_are_distinct() -> None:
    settings = Settings(environment="test")
    ports = {name: value for name, value in settings.model_dump().items() if name.endswith("_port")}
    assert len(set(ports.values())) == len(ports), ports
