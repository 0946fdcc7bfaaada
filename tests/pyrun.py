"""Runs a Python test suite with unittest:

    python3 tests/pyrun.py [-j N] tests/integration [test_module[.Class[.test]] ...]

every test_*.py of the directory, or the names given. With -j N (default:
$GATEHOUSE_TEST_JOBS, else 1) up to N test modules run at once, each in its
own Python process (every module starts its own daemons on free ports, so
they do not meet); a module's output is printed whole when it ends, with its
time. The harness module (tests/integration/gh.py) is importable from every
suite. The last line is "N passed, N failed"; the exit status is non-zero on
any failure."""
import os
import re
import subprocess
import sys
import time
import unittest

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


def run_parallel(suite_dir, names, jobs):
    """Each module in its own process, at most `jobs` at once; the biggest
    files start first so that the last one to end is a short one."""
    if not names:
        names = sorted((n[:-3] for n in os.listdir(suite_dir)
                        if n.startswith("test_") and n.endswith(".py")),
                       key=lambda n: -os.path.getsize(os.path.join(suite_dir, n + ".py")))
    pending = list(names)
    running = {}
    passed = failed = 0
    start = time.monotonic()
    while pending or running:
        while pending and len(running) < jobs:
            name = pending.pop(0)
            p = subprocess.Popen([sys.executable, os.path.abspath(__file__), suite_dir, name],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            running[p.pid] = (name, p, time.monotonic())
        pid, _ = os.wait()
        if pid not in running:
            continue
        name, p, t0 = running.pop(pid)
        out = p.stdout.read()
        p.stdout.close()
        p.wait()
        sys.stdout.buffer.write(out)
        m = SUMMARY.findall(out)
        if m:
            passed += int(m[-1][0])
            failed += int(m[-1][1])
        if not m or p.returncode != 0:
            failed += 0 if m and int(m[-1][1]) else 1
        print("== %s: %.0f s, exit %d" % (name, time.monotonic() - t0, p.returncode),
              flush=True)
    print("all modules: %.0f s" % (time.monotonic() - start))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


def main():
    args = sys.argv[1:]
    jobs = int(os.environ.get("GATEHOUSE_TEST_JOBS") or 1)
    if len(args) >= 2 and args[0] == "-j":
        jobs = int(args[1])
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    if not os.environ.get("GATEHOUSE_BIN"):
        sys.exit("GATEHOUSE_BIN must name the binary under test")
    suite_dir = os.path.abspath(args[0])
    names = [n[:-3] if n.endswith(".py") else n for n in args[1:]]
    if jobs > 1 and len(names) != 1:
        sys.exit(run_parallel(suite_dir, names, jobs))
    sys.exit(run_here(suite_dir, names))


if __name__ == "__main__":
    main()
