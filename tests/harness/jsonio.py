"""Reading the JSON that xstack prints.

``xstack serve --json`` and ``xstack load --json`` end their stdout with one JSON object
on the last line (serve prints its "ready" line and, with --interval, nothing else
before it). ``last_json`` reads that line; ``get`` walks a dotted key path such as
``latency_us.p50`` or ``drops.bad_checksum``; ``fmt`` prints a value the way the shell
scripts compare it (integers without a decimal point, strings bare).
"""

import json


class JsonError(Exception):
    """A file without the JSON it should hold, or a key that is not there."""


def last_json_text(text, source="input"):
    """The JSON value on the last non-blank line of TEXT."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise JsonError(f"{source}: no output (expected a JSON object on its last line)")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as e:
        line = lines[-1] if len(lines[-1]) <= 200 else lines[-1][:200] + "..."
        raise JsonError(f"{source}: the last line is not JSON ({e.msg}): {line}") from None


def last_json(path):
    """The JSON value on the last non-blank line of the file at PATH ("-" is stdin)."""
    if path == "-":
        import sys

        return last_json_text(sys.stdin.read(), "stdin")
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise JsonError(f"{path}: {e.strerror}") from None
    return last_json_text(text, path)


def get(value, path):
    """VALUE[k1][k2]... for the dotted PATH "k1.k2"; list elements by index."""
    cur = value
    done = []
    for k in path.split("."):
        if isinstance(cur, dict) and k in cur:
            cur = cur[k]
        elif isinstance(cur, list) and k.lstrip("-").isdigit() and -len(cur) <= int(k) < len(cur):
            cur = cur[int(k)]
        else:
            where = ".".join(done) or "the top level"
            have = ", ".join(sorted(cur)) if isinstance(cur, dict) else type(cur).__name__
            raise JsonError(f"no key {path!r}: {k!r} is not in {where} (has: {have})")
        done.append(k)
    return cur


def fmt(value):
    """VALUE as one shell word: numbers as Python prints them, strings bare, JSON for
    lists and objects, true/false/null as JSON spells them."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))
