"""``python -m scratchrnn.train``: runs the program scratchrnn/cli/train.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.train", run_name="__main__", alter_sys=True)
