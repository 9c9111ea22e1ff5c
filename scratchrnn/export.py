"""``python -m scratchrnn.export``: runs the program scratchrnn/cli/export.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.export", run_name="__main__", alter_sys=True)
