"""Machinery of the fast kernels only (buffer recycling, gate-major layout, bias columns).

Private: nothing outside ``scratchrnn/kernels/{rnn,lstm,gru,inference}.py`` uses it, and the
reference kernels in ``scratchrnn/kernels/reference/`` never do. docs/performance.md says why it exists.
"""
