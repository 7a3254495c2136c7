"""Judges values against AWS's service models, for tests/e2e/model_rules.rs.

Reads a JSON list of {service, operation, member, values} on stdin; answers, for each, the
member's constraints in botocore's model (type, min, max, pattern, enum) and whether the model
takes each value (length in characters, pattern, enum). The models and their Java patterns are
read as the emulator's model check reads them (emulator/model_check.py), so there is one
translation of AWS's patterns.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "emulator"))
from model_check import compiled_pattern, read_model  # noqa: E402


def shape_of(service: str, operation: str, member: str) -> dict:
    model = read_model(service)
    shapes = model["shapes"]
    shape = shapes[model["operations"][operation]["input"]["shape"]]
    for part in member.split("."):
        is_list_member = part.endswith("[]")
        name = part[:-2] if is_list_member else part
        shape = shapes[shape["members"][name]["shape"]]
        if is_list_member:
            shape = shapes[shape["member"]["shape"]]
    return shape


def takes(shape: dict, value) -> bool:
    if shape["type"] == "integer":
        value = int(value)
        return shape.get("min", value) <= value <= shape.get("max", value)
    if "enum" in shape:
        return value in shape["enum"]
    if not shape.get("min", 0) <= len(value) <= shape.get("max", len(value)):
        return False
    pattern = shape.get("pattern")
    return pattern is None or compiled_pattern(pattern).fullmatch(value) is not None


def main() -> None:
    answers = []
    for q in json.load(sys.stdin):
        shape = shape_of(q["service"], q["operation"], q["member"])
        answers.append({
            "type": shape["type"],
            "min": shape.get("min"),
            "max": shape.get("max"),
            "pattern": shape.get("pattern"),
            "enum": shape.get("enum"),
            "takes": [takes(shape, v) for v in q["values"]],
        })
    json.dump(answers, sys.stdout)


main()
