"""``python -m scratchrnn.classify``: runs the program scratchrnn/cli/classify.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.classify", run_name="__main__", alter_sys=True)
