"""Reference solutions of the labs (``labs/``): each module ``labNN`` implements that lab's
stub interface by calling the library (``scratchrnn.kernels``, ``scratchrnn.nn``).

The lab graders load them with ``pytest labs/labNN_* --impl reference``; the project's tests use
them to prove that every grader passes a correct solution.
"""
