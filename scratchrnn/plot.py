"""``python -m scratchrnn.plot``: runs the program scratchrnn/cli/plot.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.plot", run_name="__main__", alter_sys=True)
