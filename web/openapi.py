"""Requests validated, and the OpenAPI document generated, from the models in :mod:`web.contract`.

Each route declares its operation once, with :meth:`Contract.operation`: the models of its
query, JSON body or form, its response models and status codes, and any media that is not
JSON (HTML pages, server-sent events, CSV). spectree reads those declarations, validates
requests against the models and generates the document served at ``/openapi.json``.

Why spectree: it decorates the app's own Flask blueprints (flask-openapi3 and APIFlask replace
the app and blueprint classes), builds the document from the url_map (path parameters from the
converters, summaries from docstrings) and needs pydantic alone. kb adapts it through its
plugin interface in two places: a JSON body is read whatever its Content-Type (as kb always
has, so ``curl -d`` works), and a streamed response (server-sent events) goes out as it is
made instead of being read whole. A validation error is a 400 in the one error shape, with a
message that names the field (``k must be at most 50``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Blueprint, Flask, Request, current_app, jsonify
from flask import Response as FlaskResponse
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError
from spectree import Response, SpecTree
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin
from spectree.utils import get_multidict_items

from kb.config import Settings
from kb.errors import InvalidInput
from kb.timing import stage
from web.contract import Error, RequestModels, request_models
from web.errors import API_SURFACES
from web.versions import API_VERSION

# What a declared view returns: a model (sent as JSON, checked), or what Flask takes.
Reply = ResponseReturnValue | BaseModel | tuple[BaseModel, int]
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
STRING: dict[str, Any] = {"type": "string"}
DESCRIPTION = (
    "Help-centre search and grounded answers with verified citations. Every error has one "
    "shape (Error); every response carries X-Request-Id and KB-API-Version. A chatbot's server "
    "sends its backend API key as Authorization: Bearer kbk_… and gets that key's rate limits "
    "instead of its address's; limited responses carry X-RateLimit-Limit and "
    "X-RateLimit-Remaining."
)
ERRORS = {
    400: "Bad input, with a message saying what is wrong",
    401: "Authorization: Bearer carried a key that is unknown, revoked or wrong",
    404: "Not found",
    409: "Another ingest is running",
    413: "Request body too large",
    429: "Too many requests from this client (address or API key)",
    503: "No index loaded yet, or it cannot be served",
}
RATE_HEADERS = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
    "X-RateLimit-Limit": {"description": "Requests a minute this client may make to this group",
                          "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests it may still make in the current minute",
                              "schema": {"type": "integer"}},
}  # fmt: skip
# What a request's part is called in messages: ``missing query parameter q``.
_PARTS = {"query": "query parameter", "json": "field", "form": "form field"}
_KINDS = {
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dataclass_type": "must be an object",
    "none_required": "must be null",
    "extra_forbidden": "is not a known field",
}
# Errors about a bound: the error's context key and what the message says of it.
_BOUNDS = {
    "string_too_long": ("max_length", "is too long (at most {} characters)"),
    "string_too_short": ("min_length", "is too short (at least {} characters)"),
    "too_long": ("max_length", "has too many items (at most {})"),
    "too_short": ("min_length", "needs at least {} item(s)"),
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
    "literal_error": ("expected", "must be {}"),
    "string_pattern_mismatch": ("pattern", "must match {}"),
}


def describe(error: ValidationError, part: str) -> str:
    """Return one line saying what is wrong with the first field ``error`` names.

    ``part`` is ``query``, ``json`` or ``form``; fields are named as in the request
    (``history[0].question``, ``context.colour``).
    """
    first = error.errors(include_url=False)[0]
    where = ""
    for step in first["loc"]:
        where += f"[{step}]" if isinstance(step, int) else f".{step}" if where else str(step)
    kind, ctx = first["type"], first.get("ctx", {})
    if not where:
        return "request body must be a JSON object" if part == "json" else first["msg"]
    if kind == "missing":
        name = where if part == "query" else repr(where)
        return f"missing {_PARTS[part]} {name}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"{where} is empty"
    if kind == "value_error":
        return str(ctx.get("error", first["msg"]))
    if kind in _KINDS:
        return f"{where} {_KINDS[kind]}"
    if kind in _BOUNDS:
        key, text = _BOUNDS[kind]
        return f"{where} {text.format(ctx[key])}"
    return f"{where}: {first['msg']}"


def _validated(model: type[BaseModel], data: Any, part: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InvalidInput(describe(e, part)) from None


def _json_body(request: Request) -> Any:
    """The request's JSON body, whatever its Content-Type; ``{}`` when it has none."""
    body = request.get_json(force=True, silent=True)
    if body is None:
        if request.get_data():
            raise InvalidInput("request body must be a JSON object")
        return {}
    return body


class _Plugin(FlaskPlugin):
    """spectree's Flask plugin, reading JSON bodies and streaming as kb does (see above)."""

    def request_validation(self, request: Any, query: Any, json: Any, form: Any,
                           headers: Any, cookies: Any) -> None:  # fmt: skip
        """Validate the request's parts, or raise :class:`InvalidInput` naming the field."""
        with stage("parse"):
            request.context = Context(
                _validated(query, get_multidict_items(request.args, query), "query")
                if query
                else None,
                _validated(json, _json_body(request), "json") if json else None,
                _validated(form, self.fill_form(request), "form") if form else None,
                None,
                None,
            )

    def validate_response(self, resp: Any, resp_model: Any, skip_validation: bool,
                          force_resp_serialize: bool) -> Any:  # fmt: skip
        """Check a JSON response against its model; send any other (a page, a stream of
        events, CSV) as it is."""
        if isinstance(resp, FlaskResponse) and (resp.is_streamed or not resp.is_json):
            return resp, None
        with stage("serialise"):
            return super().validate_response(resp, resp_model, skip_validation,
                                             force_resp_serialize)  # fmt: skip


class Contract:
    """One app's HTTP contract: request models with its settings' limits, and the document."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models: RequestModels = request_models(settings)
        self.tree = SpecTree(
            backend=_Plugin,
            mode="strict",  # every route is declared with operation(), so every one is listed
            annotations=False,
            title="kb",
            version=str(API_VERSION),
            description=DESCRIPTION,
            validation_error_status=400,
            validation_error_model=Error,
            naming_strategy=lambda model: model.__name__,
            nested_naming_strategy=lambda _parent, child: child,
        )
        self._media: dict[Callable[..., Any], dict[int, Mapping[str, Any]]] = {}
        self._document: dict[str, Any] | None = None

    def operation(
        self,
        *,
        query: type[BaseModel] | None = None,
        json: type[BaseModel] | None = None,
        form: type[BaseModel] | None = None,
        ok: type[BaseModel] | None = None,
        status: int = 200,
        description: str = "OK",
        errors: Iterable[int] | Mapping[int, str] = (),
        media: Mapping[int, Mapping[str, Any]] | None = None,
        validate: bool = True,
    ) -> Callable[[Callable[..., Reply]], Callable[..., ResponseReturnValue]]:
        """Declare a route's operation: what it takes, what it answers, with which codes.

        ``ok`` is the model of the ``status`` response (None: no JSON body); ``errors`` the
        codes it may answer in the error shape (with their descriptions, or the usual ones);
        ``media`` other media per code (``{200: {"text/html": None}}``, None for a string);
        ``validate=False`` documents the parameters without checking them (pages that show
        their own errors).
        """
        codes = dict(errors) if isinstance(errors, Mapping) else {c: ERRORS[c] for c in errors}
        responses: dict[str, Any] = {f"HTTP_{status}": (ok, description)}
        for code, text in codes.items():
            responses[f"HTTP_{code}"] = (Error, text)
        decorate = self.tree.validate(
            query=query, json=json, form=form, resp=Response(**responses),
            skip_validation=not validate,
        )  # fmt: skip

        def declare(view: Callable[..., Reply]) -> Callable[..., ResponseReturnValue]:
            declared: Callable[..., ResponseReturnValue] = decorate(view)  # models sent as JSON
            self._media[declared] = dict(media or {})
            return declared

        return declare

    def document(self) -> dict[str, Any]:
        """Return the OpenAPI document of the current app (made once, in an app context)."""
        if self._document is None:
            self._document = self._finish(copy.deepcopy(self.tree.spec))
        return self._document

    def _finish(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Add what spectree does not say: other media, aliases, rate headers, form type."""
        paths = spec["paths"]
        for rule in current_app.url_map.iter_rules():
            media = self._media.get(current_app.view_functions[rule.endpoint], {})
            path = self.tree.backend.parse_path(rule, None)[0]
            page = rule.endpoint.split(".")[0] not in API_SURFACES
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                op = paths.get(path, {}).get(method.lower())
                if not op:
                    continue
                for code, types in media.items():
                    response = op["responses"].setdefault(str(code), {"description": "OK"})
                    content = response.setdefault("content", {})
                    for kind, schema in types.items():
                        content[kind] = {"schema": schema or STRING}
                if page:  # a page's errors are a small HTML page unless JSON is asked for
                    for code, response in op["responses"].items():
                        if int(code) >= 400:
                            response.setdefault("content", {})["text/html"] = {"schema": STRING}
        prefix = f"/v{API_VERSION}"
        for path in paths:
            if path.startswith(prefix + "/") and path[len(prefix) :] in paths:
                for op in paths[path[len(prefix) :]].values():
                    alias = f"Alias of {path}, the latest version."
                    op["description"] = f"{op['description']}\n\n{alias}".strip()
        for operations in paths.values():
            for op in operations.values():
                if "429" in op["responses"]:
                    op["responses"]["429"]["headers"] = RATE_HEADERS
                body = op.get("requestBody", {}).get("content", {})
                if "multipart/form-data" in body:  # kb's only form is the page's, urlencoded
                    body[FORM] = body.pop("multipart/form-data")
                op.pop("tags", None)
                if not op["parameters"]:
                    op.pop("parameters")
        spec.pop("tags", None)
        return spec


def blueprint(contract: Contract) -> Blueprint:
    """Return the blueprint serving the document at ``/openapi.json``."""
    bp = Blueprint("document", __name__)

    @bp.get("/openapi.json")
    @contract.operation(description="The OpenAPI document", media={200: {JSON: {"type": "object"}}})
    def openapi() -> ResponseReturnValue:
        """This document: every operation, its parameters, bodies and responses."""
        return jsonify(contract.document())

    return bp


def init_app(app: Flask, contract: Contract) -> None:
    """Keep the app's contract where routes and tests find it."""
    app.extensions["kb.contract"] = contract


def contract_of(app: Flask) -> Contract:
    """Return the app's contract."""
    found: Contract = app.extensions["kb.contract"]
    return found
