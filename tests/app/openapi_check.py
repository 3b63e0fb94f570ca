"""Validate JSON answers against the service's own /openapi.json with jsonschema.

OpenAPI 3.0 (FastAPI 0.92) marks optional values with `nullable: true`, which JSON Schema does
not know; it is rewritten to `anyOf [..., null]` first. OpenAPI 3.1 documents are JSON Schema.
"""
from __future__ import annotations

from typing import Any

import jsonschema


def _plain(node: Any) -> Any:
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _plain(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


class OpenAPI:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = _plain(document.get("components", {}))
        self.checked: set[tuple[str, str, str]] = set()

    def _validate(self, schema: dict[str, Any], value: Any) -> None:
        root = {**_plain(schema), "components": self.components}
        jsonschema.Draft202012Validator(root).validate(value)

    def answer(self, path: str, method: str, response) -> Any:
        """Check a response (httpx) against the schema documented for its status code."""
        operation = self.document["paths"][path][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], \
            f"{method} {path} answered {status}, which its OpenAPI does not list"
        content = operation["responses"][status].get("content", {})
        body = response.json()
        self._validate(content["application/json"]["schema"], body)
        self.checked.add((method.upper(), path, status))
        return body

    def message(self, component: str, value: Any) -> Any:
        """Check a websocket message against a component schema."""
        self._validate({"$ref": f"#/components/schemas/{component}"}, value)
        return value
