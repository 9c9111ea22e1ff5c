"""``python -m scratchrnn.torch_reference``: runs the program scratchrnn/cli/torch_reference.py (the programs live in cli/)."""
import runpy

if __name__ == "__main__":
    runpy.run_module("scratchrnn.cli.torch_reference", run_name="__main__", alter_sys=True)
