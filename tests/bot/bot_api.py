"""The official Bot API (10.1), read from ``../shared/telegram-bot-api/api.min.json``, to keep the fake honest.

:class:`BotApiSpec` checks a request the way the real server would refuse it (an unknown method or parameter,
a missing required one, a documented limit: 1-64 bytes of callback_data, 0-1024 characters of caption, 1-4096 of
text, 2-10 items of a media group) and checks every object the fake returns or builds against the official
types (each required field present, no field the type does not have, the documented "always 0" / "always a
positive number" dates).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[3] / "shared"
SPEC_PATH = Path(os.environ.get("GATO_BOT_API_SPEC") or SHARED / "telegram-bot-api" / "api.min.json")
LIMIT = re.compile(r"(\d+)-(\d+) (characters|bytes|items)")
PRIMITIVES = {"Integer", "Float", "String", "Boolean", "True", "InputFile"}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class BotApiSpec:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.methods = {name.lower(): method for name, method in spec["methods"].items()}
        self.types: dict[str, Any] = spec["types"]
        self.version = spec.get("version", "?")

    @classmethod
    @functools.cache
    def load(cls, path: Path = SPEC_PATH) -> BotApiSpec | None:
        """The spec, or None when the shared folder is absent (the fake then skips these checks)."""
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except OSError:
            return None

    # --- requests ---------------------------------------------------------------------------------------

    def request_problems(self, method: str, params: dict[str, Any], uploads: set[str]) -> list[str]:
        """Why the real server would refuse this call (empty when it would accept it)."""
        spec = self.methods.get(method.lower())
        if spec is None:
            return [f"method {method} does not exist"]
        fields = {f["name"]: f for f in spec.get("fields", [])}
        problems = [f"unknown parameter {name!r} for {method}" for name in params if name not in fields]
        for name, field in fields.items():
            present = params.get(name) is not None or name in uploads
            if field["required"] and not present:
                problems.append(f"parameter {name!r} is required by {method}")
            elif params.get(name) is not None:
                problems += self._value_problems(field["types"], params[name], f"{method}.{name}", field["description"])
        return problems

    # --- objects ---------------------------------------------------------------------------------------------

    def object_problems(self, type_names: list[str], value: Any, where: str) -> list[str]:
        """Why ``value`` is none of ``type_names`` (e.g. ["Message", "Boolean"]), as the official types say."""
        return self._value_problems(type_names, value, where, "")

    def _value_problems(self, type_names: list[str], value: Any, where: str, description: str) -> list[str]:
        best: list[str] | None = None
        for type_name in type_names:
            problems = self._one_type(type_name, value, where, description)
            if not problems:
                return []
            if best is None or len(problems) < len(best):
                best = problems
        return best or [f"{where}: no type given"]

    def _one_type(self, type_name: str, value: Any, where: str, description: str) -> list[str]:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return [f"{where}: expected {type_name}, got {type(value).__name__}"]
            problems = self._limit(value, len(value), "items", where, description)
            for i, item in enumerate(value):
                problems += self._value_problems([type_name.removeprefix("Array of ")], item, f"{where}[{i}]", "")
            return problems
        if type_name in PRIMITIVES:
            return self._primitive(type_name, value, where, description)
        spec = self.types.get(type_name)
        if spec is None:
            return [f"{where}: unknown type {type_name}"]
        if "subtypes" in spec:
            return self._value_problems(spec["subtypes"], value, where, "")
        if not isinstance(value, dict):
            return [f"{where}: expected a {type_name} object, got {type(value).__name__}"]
        fields = {f["name"]: f for f in spec.get("fields", [])}
        problems = [f"{where}: {type_name} has no field {name!r}" for name in value if name not in fields]
        for name, field in fields.items():
            if name not in value:
                if field["required"]:
                    problems.append(f"{where}: {type_name}.{name} is required")
                continue
            problems += self._value_problems(field["types"], value[name], f"{where}.{name}", field["description"])
        return problems

    def _primitive(self, type_name: str, value: Any, where: str, description: str) -> list[str]:
        ok = {
            "Integer": isinstance(value, int) and not isinstance(value, bool),
            "Float": isinstance(value, int | float) and not isinstance(value, bool),
            "String": isinstance(value, str),
            "Boolean": isinstance(value, bool),
            "True": value is True,
            "InputFile": isinstance(value, str | bytes),
        }[type_name]
        if not ok:
            return [f"{where}: expected {type_name}, got {value!r:.40}"]
        if type_name == "Integer" and "Always 0" in description and value != 0:
            return [f"{where}: must be 0"]
        if type_name == "Integer" and "always a positive number" in description and value <= 0:
            return [f"{where}: must be positive"]
        if type_name == "String":
            size = len(value.encode()) if "bytes" in description else utf16_len(value)
            return self._limit(value, size, "bytes" if "bytes" in description else "characters", where, description)
        return []

    @staticmethod
    def _limit(value: Any, size: int, unit: str, where: str, description: str) -> list[str]:
        for low, high, found_unit in LIMIT.findall(description):
            if found_unit == unit and not int(low) <= size <= int(high):
                return [f"{where}: {size} {unit}, the API allows {low}-{high}"]
        return []
