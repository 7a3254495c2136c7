"""Another team's writer of the registry policy, for race tests: the `foreign_write` fault kind.

ECR's PutRegistryPolicy has no conditional write, so another tool can write the Region's
registry policy between a client's read and its write, or right after the write. The fault
carries the matched call out and, before its answer leaves (so the client's next call sees the
change), writes the policy of the call's account and Region as such a tool would: its
`statement` put (in place of one with the same Sid, else appended) into the policy it read.
`read`: "after" (default) the policy as the call left it; "before" as it was before the call (a
tool whose read predates the call, so its write undoes a PutRegistryPolicy's).
"""

import json

from moto.ecr.models import ecr_backends

from emustate import STATE

READS = ("before", "after")


def check(rule: dict) -> str | None:
    """Why a `foreign_write` rule is malformed, or None."""
    if not isinstance(rule.get("statement"), dict):
        return "a foreign_write rule needs 'statement', a policy statement object"
    if rule.get("read", "after") not in READS:
        return f"'read' must be one of {list(READS)}"
    return None


def merged(base: str | None, statement: dict) -> str:
    """`base` (a policy text, or none) with `statement` put in by its Sid."""
    try:
        doc = json.loads(base) if base else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        doc = {"Version": "2012-10-17", "Statement": []}
    statements = doc.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    sid = statement.get("Sid")
    statements = [s for s in statements if not (sid and isinstance(s, dict) and s.get("Sid") == sid)]
    doc["Statement"] = [*statements, statement]
    return json.dumps(doc)


def carry_out_then_write(call: dict, environ, start_response, forward, fault: dict):
    """Forwards the call, writes the foreign policy, then answers as the call was answered."""
    backend = ecr_backends[call["account"]][call["region"]]
    before = backend.registry_policy
    answered = {}

    def capture(status, headers, exc_info=None):
        answered["status"], answered["headers"] = status, list(headers)
        return lambda data: None

    result = forward(environ, capture)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    base = before if fault.get("read") == "before" else backend.registry_policy
    backend.registry_policy = merged(base, fault["statement"])
    STATE.update_call(call, status=int(answered["status"].split(" ", 1)[0]))
    start_response(answered["status"], answered["headers"])
    return [body]
