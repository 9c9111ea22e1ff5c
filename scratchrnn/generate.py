"""``python -m scratchrnn.generate``: runs the program scratchrnn/cli/generate.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.generate", run_name="__main__", alter_sys=True)
