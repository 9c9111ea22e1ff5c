"""``python -m scratchrnn.experiments``: runs the program scratchrnn/cli/experiments.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.experiments", run_name="__main__", alter_sys=True)
