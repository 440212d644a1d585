"""FastJSONResponse gives the body JSONResponse gives, for what a search returns."""

from __future__ import annotations

import json

from starlette.responses import JSONResponse

from serve.fastjson import FastJSONResponse

DOC = {
    "query": "stop RDS — fin de semaine ✓",
    "results": [
        {"rank": 1, "score": 0.8512345678901234, "tags": {"env": "prod"}, "older": []},
        {"rank": 2, "score": -0.0, "ok": True, "none": None, "ids": ("a", "b")},
    ],
    "timings_ms": {"embed": 2.5, "filter": 0.01},
    "counts": {1: "one"},
}


def test_same_document_as_jsonresponse() -> None:
    fast = json.loads(FastJSONResponse(DOC).body)
    slow = json.loads(JSONResponse(DOC).body)
    assert fast == slow
    assert fast["counts"] == {"1": "one"}
    assert FastJSONResponse(DOC).headers["content-type"] == "application/json"
