"""Judges values against AWS's service models, for tests/model_rules.rs.

Reads a JSON list of {service, operation, member, values} on stdin; answers, for each, the
member's constraints in botocore's model (type, min, max, pattern, enum) and whether the model
takes each value (length in characters, pattern, enum). Patterns are Java regular expressions,
matched against the whole value: `\\w` and `\\d` are ASCII there, `\\p{..}` Unicode properties,
so they are evaluated with the `regex` module after spelling out `\\w` and `\\d`.
"""

import json
import sys

import botocore.session
import regex

LOADER = botocore.session.get_session().get_component("data_loader")
MODELS = {}


def shape_of(service: str, operation: str, member: str) -> dict:
    if service not in MODELS:
        MODELS[service] = LOADER.load_service_model(service, "service-2")
    model = MODELS[service]
    shapes = model["shapes"]
    shape = shapes[model["operations"][operation]["input"]["shape"]]
    for part in member.split("."):
        is_list_member = part.endswith("[]")
        name = part[:-2] if is_list_member else part
        shape = shapes[shape["members"][name]["shape"]]
        if is_list_member:
            shape = shapes[shape["member"]["shape"]]
    return shape


def java_to_python(pattern: str) -> str:
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "w":
                out.append("A-Za-z0-9_" if in_class else "[A-Za-z0-9_]")
            elif nxt == "d":
                out.append("0-9" if in_class else "[0-9]")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


def takes(shape: dict, value) -> bool:
    if shape["type"] == "integer":
        value = int(value)
        return shape.get("min", value) <= value <= shape.get("max", value)
    if "enum" in shape:
        return value in shape["enum"]
    if not shape.get("min", 0) <= len(value) <= shape.get("max", len(value)):
        return False
    pattern = shape.get("pattern")
    return pattern is None or regex.fullmatch(java_to_python(pattern), value) is not None


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
