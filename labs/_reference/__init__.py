"""Reference solutions of the labs: the answer key (instructors and maintainers only).

Each module ``labNN`` implements that lab's stub interface. They are used to make the fixtures
(``python -m labs.make_fixtures``) and, in the project's tests, to prove that every grader passes
a correct solution (``tests/test_labs.py``). This folder is never installed with the library and
never exported to a class (``python -m labs.reset --export``): students cannot grade against it.

Maintainers can grade it directly: ``pytest labs/lab03_lstm --impl reference``.
"""
