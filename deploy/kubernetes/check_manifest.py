#!/usr/bin/env python3
"""Checks deploy/kubernetes/*.yaml offline: that each is a batch/v1 Indexed Job whose
fields are the ones Kubernetes defines for a Job (the subset used here, typed), and that
the xstack command uses what makes a scale-out run correct — the completion index for a
distinct address and instance name, one shared --start-at, and its log and report
written to a mounted volume. No cluster is needed (and none is contacted).

usage: check_manifest.py FILE...   (exit 0 when every file passes)"""
import re
import sys

import yaml

# The Job fields used, with their types (batch/v1, core/v1). A key not listed is an
# error: a typo such as `completionmode` would otherwise be silently ignored.
STR, INT, BOOL, MAP, LIST = str, int, bool, dict, list
SCHEMA = {
    "apiVersion": STR, "kind": STR,
    "metadata": {"name": STR, "labels": MAP, "namespace": STR},
    "spec": {
        "completionMode": STR, "completions": INT, "parallelism": INT,
        "backoffLimit": INT, "ttlSecondsAfterFinished": INT, "activeDeadlineSeconds": INT,
        "template": {
            "metadata": {"labels": MAP, "annotations": MAP},
            "spec": {
                "restartPolicy": STR, "hostNetwork": BOOL, "nodeSelector": MAP,
                "tolerations": LIST, "affinity": MAP,
                "containers": [{
                    "name": STR, "image": STR, "imagePullPolicy": STR,
                    "command": [STR], "args": [STR],
                    "env": [{"name": STR, "value": STR}],
                    "securityContext": {"privileged": BOOL, "capabilities": MAP},
                    "resources": MAP,
                    "volumeMounts": [{"name": STR, "mountPath": STR, "readOnly": BOOL}],
                }],
                "volumes": [{"name": STR, "persistentVolumeClaim": {"claimName": STR},
                             "hostPath": {"path": STR, "type": STR}, "emptyDir": MAP}],
            },
        },
    },
}


def typed(value, schema, where, problems):
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            problems.append(f"{where}: want an object")
            return
        for k, v in value.items():
            if k not in schema:
                problems.append(f"{where}.{k}: not a field this Job uses (a typo?)")
            else:
                typed(v, schema[k], f"{where}.{k}", problems)
    elif isinstance(schema, list):
        if not isinstance(value, list):
            problems.append(f"{where}: want a list")
            return
        for i, v in enumerate(value):
            typed(v, schema[0], f"{where}[{i}]", problems)
    elif not isinstance(value, schema) or (schema is INT and isinstance(value, bool)):
        problems.append(f"{where}: want {schema.__name__}, got {type(value).__name__}")


def check(doc):
    problems = []
    typed(doc, SCHEMA, "job", problems)
    if doc.get("apiVersion") != "batch/v1" or doc.get("kind") != "Job":
        problems.append("not a batch/v1 Job")
    spec = doc.get("spec", {})
    if spec.get("completionMode") != "Indexed":
        problems.append("spec.completionMode must be Indexed (each pod gets JOB_COMPLETION_INDEX)")
    n, p = spec.get("completions"), spec.get("parallelism")
    if not (isinstance(n, int) and n >= 1 and n == p):
        problems.append(f"completions ({n}) and parallelism ({p}) must be equal: all instances run at once")
    pod = spec.get("template", {}).get("spec", {})
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append("a Job's pods need restartPolicy Never or OnFailure")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        problems.append("want one container")
        return problems
    c = containers[0]
    sc = c.get("securityContext", {})
    if not (sc.get("privileged") or {"NET_ADMIN", "NET_RAW"} <= set(sc.get("capabilities", {}).get("add", []))):
        problems.append("the container needs privileged, or NET_ADMIN and NET_RAW (and BPF)")
    cmd = " ".join(c.get("command", []) + c.get("args", []))
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    for need, why in (("xstack load", "runs xstack load"),
                      ("--start-at", "one shared --start-at, so every instance measures the same window"),
                      ("--hdr-log", "an interval log per instance, for xstack report"),
                      ("--instance", "a name per instance")):
        if need not in cmd:
            problems.append(f"the command must use {need}: {why}")
    if cmd.count("JOB_COMPLETION_INDEX") < 2:
        problems.append("the command must use $JOB_COMPLETION_INDEX for a distinct address and instance name")
    if not re.search(r"--instance-index\s+\"?\$\{?JOB_COMPLETION_INDEX", cmd):
        problems.append("--instance-index $JOB_COMPLETION_INDEX gives each pod its own slice of --ip")
    m = re.search(r"--instances\s+\"?(\$\{?(\w+)\}?|\d+)", cmd)
    if not m:
        problems.append("--instances N must go with --instance-index")
    else:
        count = env.get(m.group(2)) if m.group(2) else m.group(1)
        if str(count) != str(n):
            problems.append(f"--instances ({count}) must equal completions ({n}): the slices must cover the range")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    volumes = {v["name"] for v in pod.get("volumes", [])}
    for m, name in mounts.items():
        if name not in volumes:
            problems.append(f"volumeMount {m} names no volume ({name})")
    logs = re.findall(r"--hdr-log\s+\"?([^\s\"]+)", cmd)
    if logs and not any(logs[0].startswith(m.rstrip("/") + "/") for m in mounts):
        problems.append(f"the log {logs[0]} is not on a mounted volume: it would vanish with the pod")
    if "START_AT" in cmd and not env.get("START_AT"):
        problems.append("START_AT is used but not set")
    return problems


def main(paths):
    bad = 0
    for path in paths:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            problems = check(doc)
            for p in problems:
                print(f"{path}: {p}", file=sys.stderr)
            bad += bool(problems)
        if not bad:
            print(f"{path}: {len(docs)} Job(s) pass")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
