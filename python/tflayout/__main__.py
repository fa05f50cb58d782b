"""``python -m tflayout`` and the ``tflayout-opt`` console script: run the tflayout-opt binary
the wheel carries (tflayout/bin/tflayout-opt), with the same arguments, output and exit code."""
import os
import sys


def tool_path():
    """The tflayout-opt binary installed with this package."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "tflayout-opt")


def main():
    tool = tool_path()
    if not os.access(tool, os.X_OK):
        sys.stderr.write(f"tflayout-opt: {tool} is missing or not executable (a source "
                         "checkout has it in the CMake build; install the tflayout wheel)\n")
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(tool, ["tflayout-opt"] + sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
