"""The command-line programs: ``python -m scratchrnn.<name>`` runs ``scratchrnn/cli/<name>.py``.

    train            train a character (or word) language model
    generate         sample from a trained model
    classify         a many-to-one classifier over ragged batches
    experiments      memory, gradient-flow, seq2seq and forecasting experiments
    plot             look inside a trained character model (gates, units over text)
    bench            speed and memory against PyTorch
    torch_reference  the default training run in PyTorch, for docs/results.md
    export           a checkpoint's weights as safetensors, for PyTorch

Programs sit on top of the library and share ``_common`` (parser, usage error, exit codes);
nothing in the library imports from here.
"""
