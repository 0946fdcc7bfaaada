"""Runs a Python test suite with unittest:

    python3 tests/pyrun.py tests/integration [test_module ...]

every test_*.py of the directory, or the modules named. The harness module
(tests/integration/gh.py) is importable from every suite. The last line is
"N passed, N failed"; the exit status is non-zero on any failure."""
import os
import sys
import unittest

TESTS = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if not os.environ.get("GATEHOUSE_BIN"):
        sys.exit("GATEHOUSE_BIN must name the binary under test")
    suite_dir = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.join(TESTS, "integration"))
    sys.path.insert(0, suite_dir)
    loader = unittest.TestLoader()
    names = [n[:-3] if n.endswith(".py") else n for n in sys.argv[2:]]
    if names:
        suite = loader.loadTestsFromNames(names)
    else:
        suite = loader.discover(suite_dir, pattern="test_*.py", top_level_dir=suite_dir)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed or result.testsRun == 0 else 0)


if __name__ == "__main__":
    main()
