"""Domain errors reach clients through one mapping (api/errors.py): each must have a kind it knows."""

from __future__ import annotations

import importlib
import pkgutil

import learning_machine
from learning_machine.api.errors import STATUS_OF_KIND
from learning_machine.core.errors import DomainError

CLIENT_SIDE = ("learning_machine.client", "learning_machine.cli")


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found | {sub for child in found for sub in _all_subclasses(child)}


def test_every_domain_error_has_a_status() -> None:
    for module in pkgutil.walk_packages(learning_machine.__path__, "learning_machine."):
        if not module.name.startswith(CLIENT_SIDE):
            importlib.import_module(module.name)
    errors = _all_subclasses(DomainError) - set(STATUS_OF_KIND)

    assert len(errors) >= 15  # the ones the routes used to map one by one
    unmapped = [e.__qualname__ for e in errors if not any(issubclass(e, kind) for kind in STATUS_OF_KIND)]
    assert unmapped == []
