"""Runs a Python test suite with unittest:

    python3 tests/pyrun.py [-j N] [--times FILE] tests/integration [test_module[.Class[.test]] ...]

every test_*.py of the directory, or the names given. With -j N (default:
$GH_TEST_JOBS, else 1) up to N test classes run at once, each in its
own Python process (every class starts its own daemons on free ports, so
they do not meet); a class's output is printed whole when it ends, with its
time. The harness module (tests/integration/gh.py) is importable from every
suite. The last line is "N passed, N failed"; the exit status is non-zero on
any failure."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

# The test tooling's variables are GH_TEST_*: every GATEHOUSE_* variable is
# the daemon's, and an unknown one stops it. The old names are still taken
# (and removed from the environment the daemons inherit).
LEGACY_ENV = {"GATEHOUSE_BIN": "GH_TEST_BIN", "GATEHOUSE_VALGRIND": "GH_TEST_VALGRIND",
              "GATEHOUSE_SANITIZER": "GH_TEST_SANITIZER", "GATEHOUSE_TEST_JOBS": "GH_TEST_JOBS",
              "GATEHOUSE_TEST_SEED": "GH_TEST_SEED"}
for _old, _new in LEGACY_ENV.items():
    if _old in os.environ:
        os.environ.setdefault(_new, os.environ[_old])
        del os.environ[_old]

TESTS = os.path.dirname(os.path.abspath(__file__))


def run_here(suite_dir, names):
    sys.path.insert(0, os.path.join(TESTS, "integration"))
    sys.path.insert(0, suite_dir)
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames(names)
    else:
        suite = loader.discover(suite_dir, pattern="test_*.py", top_level_dir=suite_dir)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    return 1 if failed or result.testsRun == 0 else 0


SUMMARY = re.compile(rb"^(\d+) passed, (\d+) failed$", re.M)


def classes_of(suite_dir, modules):
    """module.Class for every test class of the modules, most tests first
    (so that the last unit to end is a short one)."""
    sys.path.insert(0, os.path.join(TESTS, "integration"))
    sys.path.insert(0, suite_dir)
    loader = unittest.TestLoader()
    units = {}

    def walk(suite):
        for t in suite:
            if isinstance(t, unittest.TestSuite):
                walk(t)
            elif not isinstance(t, unittest.loader._FailedTest):
                key = "%s.%s" % (type(t).__module__, type(t).__name__)
                units[key] = units.get(key, 0) + 1
            else:
                units[t.id()] = 1  # an import error: let the child report it
    for m in modules:
        walk(loader.loadTestsFromName(m))
    # Seconds each class took in a valgrind run (tests/times.json, written by
    # --times and edited by hand: the load tests, skipped under valgrind, keep
    # their plain-run weight); a class not listed counts as one second a test.
    try:
        with open(os.path.join(TESTS, "times.json")) as f:
            seen = json.load(f)
    except (OSError, ValueError):
        seen = {}
    return sorted(units, key=lambda u: -seen.get(u, units[u]))


def run_parallel(suite_dir, names, jobs, times_out=None):
    """Each test class in its own process (every class starts its own
    daemons on free ports), at most `jobs` at once."""
    if not names:
        names = sorted(n[:-3] for n in os.listdir(suite_dir)
                       if n.startswith("test_") and n.endswith(".py"))
    if all("." not in n for n in names):
        names = classes_of(suite_dir, names)
    pending = list(names)
    times = {}
    running = {}
    passed = failed = 0
    cpu_total = 0.0
    start = time.monotonic()
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            # Into a file, not a pipe: a child with more to say than a pipe
            # holds would block until read, and nothing reads it before it ends.
            out = tempfile.TemporaryFile()
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), suite_dir, name],
                                 stdout=out, stderr=subprocess.STDOUT)
            p.out = out
            running[p.pid] = (name, p, time.monotonic())
        # wait4: the class's CPU time too (its daemons included, once reaped).
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        name, p, t0 = running.pop(pid)
        p.out.seek(0)
        out = p.out.read()
        p.out.close()
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped above, not by p
        sys.stdout.buffer.write(out)
        m = SUMMARY.findall(out)
        if m:
            passed += int(m[-1][0])
            failed += int(m[-1][1])
        if not m or p.returncode != 0:
            failed += 0 if m and int(m[-1][1]) else 1
        took = time.monotonic() - t0
        times[name] = round(took)
        cpu = usage.ru_utime + usage.ru_stime
        cpu_total += cpu
        print("== %s: %.0f s, exit %d, CPU %.0f s" % (name, took, p.returncode, cpu), flush=True)
    print("all classes: %.0f s, CPU %.0f s" % (time.monotonic() - start, cpu_total))
    if times_out:
        with open(times_out, "w") as f:
            json.dump(times, f, indent=0, sort_keys=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


def main():
    args = sys.argv[1:]
    jobs = int(os.environ.get("GH_TEST_JOBS") or 1)
    times_out = None
    while len(args) >= 2 and args[0] in ("-j", "--times"):
        if args[0] == "-j":
            jobs = int(args[1])
        else:
            times_out = args[1]  # where to write each class's seconds (JSON)
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    if not os.environ.get("GH_TEST_BIN"):
        sys.exit("GH_TEST_BIN must name the binary under test")
    suite_dir = os.path.abspath(args[0])
    names = [n[:-3] if n.endswith(".py") else n for n in args[1:]]
    if jobs > 1 and len(names) != 1:
        sys.exit(run_parallel(suite_dir, names, jobs, times_out))
    sys.exit(run_here(suite_dir, names))


if __name__ == "__main__":
    main()
