"""/docs: the API for people, read from the service's own OpenAPI document so it cannot drift
from what the routes do: each route's parameters, answers and a curl example, and the
websocket's messages with their schemas and examples (app/api/examples.py).

Written for both FastAPI 0.92 (OpenAPI 3.0: `nullable`, `allOf` around references) and the
newest releases (OpenAPI 3.1: `anyOf [..., null]`, `const`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

from markupsafe import Markup, escape

from app.api import examples, schemas

TOKEN_HEADER = 'Authorization: Bearer $TOKEN'
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_CODE = re.compile(r"`([^`]+)`")


def prose(text: str) -> Markup:
    """A description as HTML: escaped, and the names it marks `like this` (as the schemas and
    routes write config keys and fields) shown as code rather than as backticks."""
    return Markup(_CODE.sub(r"<code>\1</code>", str(escape(text))))


@dataclass(frozen=True)
class Field:
    """A parameter, a body field or a schema's property, as one row of a table."""

    name: str
    where: str  # path, query, body, form; "" for a schema's property
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class Answer:
    status: str
    description: str
    schema: str  # the schema's name(s), or the media type of a non-JSON answer


@dataclass(frozen=True)
class Request:
    """One concrete request, with `${NAME}` shell variables for the path's and the query's
    values; `curl` is the command a reader copies."""

    method: str
    url: str
    json_body: Optional[str]
    files: Tuple[Tuple[str, str], ...]  # (form field, file name)
    download: bool  # the answer is a file (a picture, a zip): saved under its own name

    @property
    def curl(self) -> str:
        sending = self.json_body is not None or bool(self.files)
        first = ["curl"] + ([] if self.method == "GET" or (self.method == "POST" and sending)
                            else ["-X", self.method])
        lines = [" ".join(first + [f'"{self.url}"']), f'-H "{TOKEN_HEADER}"']
        if self.json_body is not None:
            quoted = self.json_body.replace("'", "'\\''")
            lines += ['-H "Content-Type: application/json"', f"-d '{quoted}'"]
        lines += [f'-F "{field}=@{name}"' for field, name in self.files]
        if self.download:
            lines.append("-OJ")
        return " \\\n  ".join(lines)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    tag: str
    summary: str
    parameters: List[Field]
    answers: List[Answer]
    example: Request

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.method} {self.path}".lower()).strip("-")


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    fields: List[Field]


@dataclass(frozen=True)
class Message:
    """A websocket message: its `type`, when it comes, its schema and an example."""

    type: str
    schema: str
    description: str
    when: str
    fields: List[Field]
    example: str


def routes(document: Dict[str, Any], base_url: str) -> List[Route]:
    """Every operation of the document, in its order, with a curl example against
    `base_url` (the address the reader reached /docs at)."""
    components = document.get("components", {}).get("schemas", {})
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = [_parameter(p) for p in operation.get("parameters", ())]
            body_kind, body_schema = _body(operation, components)
            parameters += [Field(f.name, body_kind, f.type, f.required, f.description)
                           for f in _properties(body_schema)]
            found.append(Route(
                method=method.upper(), path=path, tag=(operation.get("tags") or ["other"])[0],
                summary=operation.get("summary", ""), parameters=parameters,
                answers=[_answer(status, answer) for status, answer
                         in sorted(operation.get("responses", {}).items())],
                example=_request(method.upper(), path, base_url, operation, body_kind,
                                 body_schema)))
    return found


def messages(document: Dict[str, Any]) -> List[Message]:
    """The websocket's messages, each described by its schema in the document."""
    components = document["components"]["schemas"]
    found = []
    for message in examples.MESSAGES:
        name = message.schema.__name__
        found.append(Message(
            type=message.type, schema=name, description=components[name].get("description", ""),
            when=message.when, fields=_properties(components[name]),
            example=json.dumps(schemas.dump(message.example), indent=2)))
    return found


def nested_schemas(document: Dict[str, Any], names: List[str]) -> List[Schema]:
    """The schemas that `names` refer to, at any depth, each once, in order of reference."""
    components = document["components"]["schemas"]
    seen: List[str] = []
    pending = list(names)
    while pending:
        for referred in _references(components[pending.pop(0)]):
            if referred not in seen and referred not in names:
                seen.append(referred)
                pending.append(referred)
    return [schema(document, name) for name in seen]


def schema(document: Dict[str, Any], name: str) -> Schema:
    """One schema of the document's components, as a table."""
    component = document["components"]["schemas"][name]
    return Schema(name, component.get("description", ""), _properties(component))


def type_name(schema: Dict[str, Any]) -> str:
    """A schema in a few words: `Ranked`, `list of Ranked`, `number or null`, `"hello"`."""
    nullable = " or null" if schema.get("nullable") else ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1] + nullable
    for combined in ("allOf", "anyOf", "oneOf"):
        if combined in schema:
            names = [type_name(part) for part in schema[combined]]
            return " or ".join(dict.fromkeys(names)) + nullable
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"]) + nullable
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_name(schema.get('items', {}))}" + nullable
    if _is_file(schema):
        return "file"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict) \
            and schema["additionalProperties"]:
        return f"object of {type_name(schema['additionalProperties'])}" + nullable
    return (kind or "any") + nullable


def _parameter(parameter: Dict[str, Any]) -> Field:
    schema = parameter.get("schema", {})
    return Field(parameter["name"], parameter["in"], type_name(schema),
                 bool(parameter.get("required")),
                 parameter.get("description") or schema.get("description", ""))


def _body(operation: Dict[str, Any], components: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """("body", schema) of a JSON body, ("form", schema) of a multipart one, ("", {})."""
    content = operation.get("requestBody", {}).get("content", {})
    for media, kind in (("application/json", "body"), ("multipart/form-data", "form")):
        if media in content:
            return kind, _resolve(content[media].get("schema", {}), components)
    return "", {}


def _resolve(schema: Dict[str, Any], components: Dict[str, Any]) -> Dict[str, Any]:
    """A body's schema itself, with its component name under `title` (FastAPI puts a
    reference, and under 3.0 sometimes an allOf of one)."""
    while "allOf" in schema and len(schema["allOf"]) == 1:
        schema = schema["allOf"][0]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return {**components[name], "title": name}
    return schema


def _properties(schema: Dict[str, Any]) -> List[Field]:
    required = set(schema.get("required", ()))
    return [Field(name, "", type_name(prop), name in required, prop.get("description", ""))
            for name, prop in schema.get("properties", {}).items()]


def _answer(status: str, answer: Dict[str, Any]) -> Answer:
    content = answer.get("content", {})
    if "application/json" in content:
        schema = type_name(content["application/json"].get("schema", {}))
    else:
        schema = ", ".join(content)
    return Answer(status, answer.get("description", ""), schema)


def _request(method: str, path: str, base_url: str, operation: Dict[str, Any],
             body_kind: str, body_schema: Dict[str, Any]) -> Request:
    """The smallest request that works: the required query values, a JSON body from the
    examples, the required files."""
    url = base_url.rstrip("/") + _PLACEHOLDER.sub(lambda m: "${" + m[1].upper() + "}", path)
    query = [p["name"] for p in operation.get("parameters", ())
             if p["in"] == "query" and p.get("required")]
    if query:
        url += "?" + "&".join(f"{name}=${{{name.upper()}}}" for name in query)
    json_body = None
    if body_kind == "body":
        json_body = json.dumps(examples.plain(_example(examples.JSON_BODIES,
                                                       body_schema["title"])))
    files: Tuple[Tuple[str, str], ...] = ()
    if body_kind == "form":
        required = set(body_schema.get("required", ()))
        files = tuple((name, _example(examples.UPLOADS, (method, path)))
                      for name, prop in body_schema.get("properties", {}).items()
                      if name in required and _is_file(prop))
    ok = next((answer for status, answer in operation.get("responses", {}).items()
               if status.startswith("2")), {})
    download = any(media.startswith(("image/", "application/zip", "multipart/"))
                   for media in ok.get("content", {}))
    return Request(method, url, json_body, files, download)


def _example(table: Dict[Any, Any], key: Any) -> Any:
    """A request's example; a new route without one is a bug the tests of /docs catch."""
    if key not in table:
        raise LookupError(f"/docs has no example for {key}: add one to app/api/examples.py")
    return table[key]


def _is_file(schema: Dict[str, Any]) -> bool:
    """An uploaded file's schema: `format: binary` (3.0) or a `contentMediaType` (3.1)."""
    if schema.get("format") == "binary" or "contentMediaType" in schema:
        return True
    return any(_is_file(part) for part in schema.get("anyOf", ()))


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)
