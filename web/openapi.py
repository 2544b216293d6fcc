"""The OpenAPI 3 description of kb's HTTP interface, served at ``/openapi.json``.

Written out here rather than inferred, so it says what the contract promises; a test checks
that every route the app serves is in it, with its methods, and nothing else is.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from web.versions import API_VERSION

bp = Blueprint("openapi", __name__)

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _page_error(description: str) -> dict[str, Any]:
    """A page's error: an HTML page, or the JSON error to a client that asks for JSON."""
    return {
        "description": description,
        "content": {
            "text/html": {"schema": {"type": "string"}},
            JSON: {"schema": _ref("Error")},
        },
    }


RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests a minute this client may make to this group",
                          "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests it may make at once before slowing down",
                              "schema": {"type": "integer"}},
}  # fmt: skip
ERRORS = {
    "400": _json(_ref("Error"), "Bad input, with a message saying what is wrong"),
    "401": _json(
        _ref("Error"),
        "Authorization: Bearer carried a backend API key that is unknown or revoked",
    ),
    "413": _json(_ref("Error"), "Request body too large"),
    "429": {
        **_json(_ref("Error"), "Too many requests from this client (address or API key)"),
        "headers": {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
            **RATE_HEADERS,
        },
    },
    "503": _json(_ref("Error"), "No index loaded yet"),
}


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **extra}


STRING: dict[str, Any] = {"type": "string"}
NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["ok", "error", "status", "request_id"],
        "properties": {
            "ok": {"const": False},
            "error": STRING,
            "status": {"type": "integer"},
            "request_id": STRING,
        },
    },
    "Hit": {
        "type": "object",
        "required": ["doc_id", "title", "url", "section", "snippet", "score", "kind"],
        "properties": {
            "doc_id": STRING,
            "title": STRING,
            "url": {"type": "string", "description": "Link to the section (#anchor)"},
            "section": STRING,
            "snippet": STRING,
            "score": {"type": "number"},
            "kind": STRING,
            "lang": NULLABLE_STRING,
            "updated_at": NULLABLE_STRING,
            "duplicates": {
                "type": "array",
                "items": STRING,
                "description": "Other pages with the same text, shown as this one",
            },
        },
    },
    "Citation": {
        "type": "object",
        "required": ["number", "doc_id", "doc_version", "title", "url", "section", "quote"],
        "properties": {
            "number": {"type": "integer", "minimum": 1},
            "doc_id": STRING,
            "doc_version": {"type": "integer"},
            "title": STRING,
            "url": STRING,
            "section": STRING,
            "quote": {"type": "string", "description": "The passage text the answer relies on"},
            "duplicates": {
                "type": "array",
                "items": STRING,
                "description": "Other pages with the same text as the one cited",
            },
            "offsets": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0},
                "description": "Where this citation's [n] marks start in the answer text "
                "(Unicode code points); any other [n] there is the source's own text",
            },
        },
    },
    "Escalation": {
        "type": ["object", "null"],
        "properties": {
            "department": NULLABLE_STRING,
            "confidence": {"type": "number"},
            "contact": STRING,
            "text": {
                "type": "string",
                "description": "Where to go next, in the question's language (or the operator's)",
            },
        },
    },
    "Answer": {
        "type": "object",
        "required": ["question", "answer", "citations", "confidence", "refused", "mode"],
        "properties": {
            "question": STRING,
            "query": {
                "type": "string",
                "description": "What was searched (follow-ups made standalone)",
            },  # fmt: skip
            "answer": {
                "type": "string",
                "description": "Text with [n] citation marks at the citations' offsets",
            },
            "citations": {"type": "array", "items": _ref("Citation")},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "refused": {"type": "boolean"},
            "mode": {"enum": ["extractive", "llm"]},
            "fallback": NULLABLE_STRING,
            "missing": {"type": "array", "items": STRING},
            "escalation": _ref("Escalation"),
            "related": {"type": "array", "items": _ref("Hit")},
            "conversation_id": NULLABLE_STRING,
            "index_version": STRING,
        },
    },
    "AnswerRequest": {
        "type": "object",
        "required": ["question"],
        "properties": {
            "question": {"type": "string", "maxLength": 1000},
            "history": {
                "type": "array",
                "maxItems": 20,
                "items": {
                    "type": "object",
                    "required": ["question"],
                    "properties": {"question": STRING, "answer": STRING},
                },
            },
            "conversation_id": {"type": "string", "maxLength": 100},
            "context": {
                "type": "object",
                "properties": {"product": STRING, "plan": STRING, "locale": STRING},
            },
            "stream": {"type": "boolean", "description": "Answer as server-sent events"},
        },
    },
    "Feedback": {
        "type": "object",
        "required": ["rating", "query"],
        "properties": {
            "rating": {"enum": ["up", "down"]},
            "target": {"enum": ["answer", "result"], "default": "answer"},
            "query": STRING,
            "comment": {"type": "string", "maxLength": 2000},
            "answer": STRING,
            "citations": {"type": "array", "maxItems": 20, "items": {"type": "object"}},
            "doc_id": {"type": "string", "description": "The result rated (target=result)"},
            "index_version": STRING,
            "request_id": STRING,
        },
    },
    "ApiKey": {
        "type": "object",
        "properties": {
            "name": STRING,
            "key_id": {"type": "string", "description": "The key's public part (kbk_<key_id>_…)"},
            "answers_per_minute": {"type": "integer", "description": "/answer and /route; 0: none"},
            "searches_per_minute": {"type": "integer", "description": "Everything else; 0: none"},
            "created_at": STRING,
            "revoked_at": NULLABLE_STRING,
        },
    },
    "Routed": {
        "type": "object",
        "properties": {"label": STRING, "confidence": {"type": "number"}},
    },
    "Document": {
        "type": "object",
        "properties": {
            "id": STRING,
            "title": STRING,
            "url": STRING,
            "kind": STRING,
            "lang": NULLABLE_STRING,
            "version": {"type": "integer"},
            "updated_at": STRING,
            "sections": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"heading": STRING, "anchor": STRING, "text": STRING},
                },
            },
        },
    },
}

# The API operations, served under /v1 and at the bare path (the latest version's alias).
API: dict[str, dict[str, Any]] = {
    "/search": {
        "get": {
            "summary": "Search the help centre: the best section of each best document",
            "parameters": [
                _query("q", STRING, "The query", required=True),
                _query("k", {"type": "integer", "minimum": 1, "default": 10}, "Results a page"),
                _query("page", {"type": "integer", "minimum": 1, "default": 1}, "Page, from 1"),
                _query("kind", STRING, "Comma list of document kinds"),
                _query("lang", STRING, "Comma list of languages, e.g. en"),
                _query("meta.{field}", STRING, "Only documents whose label field has this value"),
                _query("context.{field}", STRING, "The user's product, plan or locale"),
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "hits": {"type": "array", "items": _ref("Hit")},
                            "page": {"type": "integer"},
                            "k": {"type": "integer"},
                            "next_page": {"type": ["integer", "null"]},
                            "index_version": STRING,
                        },
                    }
                ),
                **ERRORS,
            },
        }
    },
    "/answer": {
        "post": {
            "summary": "Answer a question with verified citations, or refuse",
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("AnswerRequest")}}},
            "responses": {
                "200": {
                    "description": "The answer; with stream=true, server-sent events: delta "
                    "{text}, reset {reason}, then one done carrying the answer",
                    "content": {
                        JSON: {"schema": _ref("Answer")},
                        "text/event-stream": {
                            "schema": {
                                "type": "object",
                                "required": ["event", "data"],
                                "properties": {
                                    "event": {"enum": ["delta", "reset", "done"]},
                                    "data": {
                                        "type": "string",
                                        "description": "JSON: delta "
                                        "{text}, reset {reason}, done the Answer",
                                    },
                                },
                            }
                        },
                    },
                },
                **ERRORS,
            },
        }
    },
    "/route": {
        "post": {
            "summary": "Which queue (department) and priority a request belongs to",
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {
                        "schema": {
                            "type": "object",
                            "required": ["text"],
                            "properties": {"text": STRING},
                        }
                    }
                },
            },  # fmt: skip
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "queue": _ref("Routed"),
                            "priority": _ref("Routed"),
                            "router_version": STRING,
                        },
                    }
                ),
                **ERRORS,
            },
        }
    },
    "/feedback": {
        "post": {
            "summary": "Rate an answer or a result (Was this helpful?)",
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Feedback")}}},
            "responses": {
                "201": _json(
                    {
                        "type": "object",
                        "properties": {"ok": {"const": True}, "id": {"type": "integer"}},
                    },  # fmt: skip
                    "Stored",
                ),
                **ERRORS,
            },
        }
    },
    "/documents/{doc_id}": {
        "get": {
            "summary": "A public document with its sections",
            "parameters": [{"name": "doc_id", "in": "path", "required": True, "schema": STRING}],
            "responses": {
                "200": _json(_ref("Document")),
                "404": _json(_ref("Error"), "No such public document"),
            },
        }
    },
    "/documents/": {
        "get": {
            "summary": "A public document whose id is not a plain path (``..``, ``/a``, ``a/``)",
            "parameters": [_query("id", STRING, "The document id", required=True)],
            "responses": {
                "200": _json(_ref("Document")),
                "400": _json(_ref("Error"), "No id given"),
                "404": _json(_ref("Error"), "No such public document"),
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "Liveness, with document counts and the index version",
            "responses": {"200": _json({"type": "object"})},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: 200 once an index is loaded",
            "responses": {"200": _json({"type": "object"}), "503": ERRORS["503"]},
        }
    },
}

ADMIN_ERRORS = {
    "401": _json(_ref("Error"), "No admin key, or the wrong one (Authorization: Bearer KEY)"),
    "400": ERRORS["400"],
}
CANDIDATE_ID = [{"name": "candidate_id", "in": "path", "required": True,
                 "schema": {"type": "integer"}}]  # fmt: skip
EDIT = {"content": {JSON: {"schema": {"type": "object", "properties": {
    "question": STRING, "answer": STRING}}}}}  # fmt: skip

ADMIN: dict[str, dict[str, Any]] = {
    "/admin/faq": {"get": {
        "summary": "FAQ candidates mined from tickets (status=pending|accepted|rejected)",
        "parameters": [_query("status", STRING, "Only candidates with this status")],
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS}}},
    "/admin/faq/mine": {"post": {
        "summary": "Cluster the stored tickets into FAQ candidates again",
        "parameters": [_query("min_size", {"type": "integer", "default": 3}, "Smallest cluster")],
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS}}},
    "/admin/faq/{candidate_id}/accept": {"post": {
        "summary": "Publish a candidate as a faq document (indexed on the next ingest)",
        "parameters": CANDIDATE_ID, "requestBody": EDIT,
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS,
                      "404": _json(_ref("Error"), "No such candidate")}}},
    "/admin/faq/{candidate_id}/reject": {"post": {
        "summary": "Reject a candidate", "parameters": CANDIDATE_ID,
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS,
                      "404": _json(_ref("Error"), "No such candidate")}}},
    "/admin/gaps": {"get": {
        "summary": "Content gaps: refused, unsure or thumbs-down questions, clustered and ranked",
        "parameters": [_query("days", {"type": "integer", "default": 90}, "How far back")],
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS}}},
    "/admin/trends": {"get": {
        "summary": "Weekly ticket volume by queue, sentiment and topic, rising ones flagged",
        "parameters": [_query("weeks", {"type": "integer", "default": 12}, "Weeks to show"),
                       _query("format", {"enum": ["json", "csv"]}, "csv for a spreadsheet")],
        "responses": {"200": {"description": "Trends", "content": {
            JSON: {"schema": {"type": "object"}}, "text/csv": {"schema": STRING}}},
            **ADMIN_ERRORS}}},
    "/admin/kpis": {"get": {
        "summary": "KPIs: questions a day, answered vs refused, helpfulness, deflection, top "
                   "and unanswered questions",
        "parameters": [_query("days", {"type": "integer", "default": 30}, "How far back")],
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS}}},
    "/admin/ingest": {"post": {
        "summary": "Start an ingest of sources (URLs or server paths) as a background job",
        "requestBody": {"required": True, "content": {JSON: {"schema": {"type": "object",
            "required": ["sources"], "properties": {"sources": {"type": "array",
            "items": STRING, "maxItems": 50}}}}}},
        "responses": {"202": _json({"type": "object"}, "Started"), **ADMIN_ERRORS,
                      "409": _json(_ref("Error"), "Another ingest is running")}}},
    "/admin/jobs": {"get": {
        "summary": "The latest background jobs",
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS}}},
    "/admin/jobs/{job_id}": {"get": {
        "summary": "A background job: status, progress, report or error",
        "parameters": [{"name": "job_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS,
                      "404": _json(_ref("Error"), "No such job")}}},
    "/admin/index/rollback": {"post": {
        "summary": "Serve an earlier index snapshot, once it checks out whole",
        "requestBody": {"required": True, "content": {JSON: {"schema": {"type": "object",
            "properties": {"version": STRING}}}}},
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS,
                      "404": _json(_ref("Error"), "No such snapshot"),
                      "503": _json(_ref("Error"), "The snapshot is damaged")}}},
    "/admin/keys": {
        "get": {
            "summary": "Backend API keys: names, limits a minute (0: none), created, revoked",
            "responses": {"200": _json({"type": "object", "properties": {
                "keys": {"type": "array", "items": _ref("ApiKey")}}}), **ADMIN_ERRORS}},
        "post": {
            "summary": "Make a backend API key; the answer holds the key, shown this once",
            "requestBody": {"required": True, "content": {JSON: {"schema": {"type": "object",
                "required": ["name"], "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
                    "answers_per_minute": {"type": "integer", "minimum": 0},
                    "searches_per_minute": {"type": "integer", "minimum": 0}}}}}},
            "responses": {"201": _json({"allOf": [_ref("ApiKey"), {"type": "object",
                "properties": {"key": STRING}}]}, "Made"), **ADMIN_ERRORS}}},
    "/admin/keys/{name}": {"delete": {
        "summary": "Revoke the live key of this name: its next request is a 401",
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": STRING}],
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS,
                      "404": _json(_ref("Error"), "No live key of this name")}}},
    "/admin/feedback": {"get": {
        "summary": "The latest feedback, newest first",
        "parameters": [_query("limit", {"type": "integer", "default": 100}, "How many")],
        "responses": {"200": _json({"type": "object"}), **ADMIN_ERRORS}}},
}  # fmt: skip

PAGES: dict[str, dict[str, Any]] = {
    "/": {"get": {"summary": "The self-service search page", "responses": {"200": _html("Page")}}},
    "/articles/{doc_id}": {
        "get": {
            "summary": "kb's copy of an article, each section under its anchor",
            "parameters": [{"name": "doc_id", "in": "path", "required": True, "schema": STRING}],
            "responses": {"200": _html("Article"), "404": _html("Not found")},
        }
    },
    "/articles/": {
        "get": {
            "summary": "kb's copy of an article whose id is not a plain path (``..``, ``/a``)",
            "parameters": [_query("id", STRING, "The document id", required=True)],
            "responses": {
                "200": _html("Article"),
                "400": _html("No id given"),
                "404": _html("Not found"),
            },
        }
    },
    "/helpful": {
        "post": {
            "summary": "Feedback from the search page's form (no JavaScript); redirects back",
            "requestBody": {
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["rating"],
                            "properties": {
                                "rating": {"enum": ["up", "down"]},
                                "target": {"enum": ["answer", "result"]},
                                "query": STRING,
                                "comment": STRING,
                                "answer": STRING,
                                "doc_id": STRING,
                                "index_version": STRING,
                                "cited": {"type": "array", "items": STRING},
                            },
                        }
                    }
                }
            },
            "responses": {
                "303": {"description": "Back to the results, with thanks"},
                "400": _page_error("What was wrong with the form"),
                "413": _page_error("Form too large"),
                "429": _page_error("Too many requests from this address"),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics: latency per route, retrieval and LLM latency, "
            "tokens, errors, answers by outcome, feedback, index version, document counts",
            "responses": {
                "200": {"description": "Metrics", "content": {"text/plain": {"schema": STRING}}}
            },
        }
    },
    "/editor": {
        "get": {
            "summary": "The editors' page (its data comes from the admin API, with the key)",
            "responses": {"200": _html("Page")},
        }
    },
    "/theme.css": {
        "get": {
            "summary": "The configured colours",
            "responses": {
                "200": {"description": "CSS", "content": {"text/css": {"schema": STRING}}}
            },
        }
    },
    "/widget.js": {
        "get": {
            "summary": "The embeddable ask box: <script src=…/widget.js>",
            "responses": {
                "200": {
                    "description": "Script",
                    "content": {"text/javascript": {"schema": STRING}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}
    },
}


def spec() -> dict[str, Any]:
    """Return the OpenAPI document."""
    paths: dict[str, Any] = {}
    for path, operations in API.items():
        paths[f"/v{API_VERSION}{path}"] = operations
        paths[path] = {
            method: {**op, "description": f"Alias of /v{API_VERSION}{path}, the latest version."}
            for method, op in operations.items()
        }
    paths.update(PAGES)
    paths.update(ADMIN)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kb",
            "version": str(API_VERSION),
            "description": "Help-centre search and grounded answers with verified citations. "
            "Every error has one shape (Error); every response carries X-Request-Id and "
            "KB-API-Version. A chatbot's server sends its backend API key as "
            "Authorization: Bearer kbk_… and gets that key's rate limits instead of its "
            "address's; limited responses carry X-RateLimit-Limit and X-RateLimit-Remaining.",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """Serve the OpenAPI document."""
    return jsonify(spec())
