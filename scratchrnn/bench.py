"""``python -m scratchrnn.bench``: runs the program scratchrnn/cli/bench.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.bench", run_name="__main__", alter_sys=True)
