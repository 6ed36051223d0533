"""Compact JSON for responses and event data: what orjson refuses still encodes."""

from __future__ import annotations

import json

from switchboard.fastjson import dumps, dumps_bytes


def test_output_is_compact_utf8_json() -> None:
    value = {"name": "Zoë", "skills": ["en", "es"], "level": 3, "none": None, "ok": True}
    assert dumps(value) == '{"name":"Zoë","skills":["en","es"],"level":3,"none":null,"ok":true}'
    assert dumps_bytes(value) == dumps(value).encode("utf-8")


def test_values_orjson_refuses_fall_back_to_the_standard_encoder() -> None:
    huge = {"id": 2**70, 3: "int key"}
    assert json.loads(dumps(huge)) == {"id": 2**70, "3": "int key"}
    assert json.loads(dumps_bytes(huge)) == {"id": 2**70, "3": "int key"}
