"""deploy/kubernetes/check_manifest.py: the committed Job passes, and the mistakes that
would break a scale-out run are caught."""
import copy
import importlib.util
import os
import unittest

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
spec = importlib.util.spec_from_file_location(
    "check_manifest", os.path.join(ROOT, "deploy", "kubernetes", "check_manifest.py"))
check_manifest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_manifest)


def job():
    with open(os.path.join(ROOT, "deploy", "kubernetes", "load-job.yaml")) as f:
        return yaml.safe_load(f)


class Manifest(unittest.TestCase):
    def test_the_committed_job_passes(self):
        self.assertEqual(check_manifest.check(job()), [])

    def test_mistakes_are_caught(self):
        def broken(edit):
            d = copy.deepcopy(job())
            edit(d)
            return check_manifest.check(d)

        def no_index(d):
            c = d["spec"]["template"]["spec"]["containers"][0]
            c["args"] = [a.replace("JOB_COMPLETION_INDEX", "0") for a in c["args"]]

        def log_off_volume(d):
            c = d["spec"]["template"]["spec"]["containers"][0]
            c["args"] = [a.replace("/results/load-", "/tmp/load-") for a in c["args"]]

        def instances_off(d):
            c = d["spec"]["template"]["spec"]["containers"][0]
            for e in c["env"]:
                if e["name"] == "INSTANCES":
                    e["value"] = "2"

        cases = {
            "must equal completions": instances_off,
            "must be Indexed": lambda d: d["spec"].update(completionMode="NonIndexed"),
            "parallelism": lambda d: d["spec"].update(parallelism=1),
            "typo": lambda d: d["spec"].update(completionmode="Indexed"),
            "JOB_COMPLETION_INDEX": no_index,
            "mounted volume": log_off_volume,
            "restartPolicy": lambda d: d["spec"]["template"]["spec"].update(restartPolicy="Always"),
            "want int": lambda d: d["spec"].update(completions="3"),
        }
        for needle, edit in cases.items():
            problems = broken(edit)
            self.assertTrue(any(needle in p for p in problems), f"{needle}: {problems}")


if __name__ == "__main__":
    unittest.main()
