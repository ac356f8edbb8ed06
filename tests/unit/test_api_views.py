"""API answers are views, never the stored models: storage-only fields cannot reach a client."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from types import ModuleType
from typing import Any, get_args, get_type_hints

from pydantic import BaseModel

import learning_machine.api.routes as routes_package
import learning_machine.stores as stores_package
from learning_machine.api.app import API_TITLE, API_VERSION, api_resolver
from learning_machine.models.config import TenantConfig
from learning_machine.models.usage import DayUsage


def _modules(package: ModuleType) -> list[ModuleType]:
    return [
        importlib.import_module(f"{package.__name__}.{m.name}")
        for m in pkgutil.iter_modules(package.__path__)
    ]


def _models(annotation: Any, found: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """Every pydantic model an annotation can hold, nested fields included."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in found:
            found.add(annotation)
            for field in annotation.model_fields.values():
                _models(field.annotation, found)
    else:
        for argument in get_args(annotation):  # list[X], X | None, Response[X], dict[K, V]...
            _models(argument, found)
    return found


def _stored() -> set[type[BaseModel]]:
    """What the stores persist (the models their modules use), with every nested model."""
    found: set[type[BaseModel]] = set()
    for module in _modules(stores_package):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                _models(value, found)
    return found


def _answers() -> set[type[BaseModel]]:
    """What the routes answer with: every public function of a route module, by its return type."""
    found: set[type[BaseModel]] = set()
    for module in _modules(routes_package):
        for name, function in vars(module).items():
            if inspect.isfunction(function) and function.__module__ == module.__name__ and name[0] != "_":
                _models(get_type_hints(function).get("return"), found)
    return found


def _storage_only(models: set[type[BaseModel]]) -> set[str]:
    """Fields a stored model keeps out of its JSON (`exclude=True`), and its private attributes."""
    names: set[str] = set()
    for model in models:
        names |= {name for name, field in model.model_fields.items() if field.exclude}
        names |= {name.lstrip("_") for name in model.__private_attributes__}
    return names


def test_no_route_answers_with_a_stored_model_or_a_storage_only_field() -> None:
    stored, answers = _stored(), _answers()
    hidden = _storage_only(stored)
    assert {"vector", "packed"} <= hidden  # a memory's embedding: what this test guards
    assert len(answers) > 20  # the walk reached the route modules' answers
    # The config document is the tenant's own input, echoed back; a day's usage is built from
    # counters on read. Both are the contract as they are; every other stored model has a view.
    shared = _models(TenantConfig, set()) | {DayUsage}
    assert sorted(m.__qualname__ for m in (stored & answers) - shared) == []
    assert {(m.__qualname__, name) for m in answers for name in m.model_fields if name in hidden} == set()

    document = json.loads(api_resolver().get_openapi_json_schema(title=API_TITLE, version=API_VERSION))
    schemas = document["components"]["schemas"]
    assert "Memory" in schemas and "Entity" in schemas  # the view classes keep the public names
    leaked = {(name, p) for name, s in schemas.items() for p in s.get("properties", {}) if p in hidden}
    assert leaked == set()
