"""The one cache type of every kernel: what a forward keeps for its backward.

A ``Cache`` is a dict of named arrays and flags (so a student can print one and see what the
backward will need), passed to exactly one backward call. Single-use is the rule for every
kernel, and the fast kernels rely on it: their sequence backwards write gradients into the
cache's own buffers, which return to a pool when the cache dies (``_fast/workspace.py``). So
each backward starts with ``cache.use("name_backward")``, which refuses a second use with a
clear error instead of a silently wrong answer. (A subclass of dict, not a dict: plain dicts
can carry neither that mark nor the finaliser that recycles the buffers.)
"""


class Cache(dict):
    __slots__ = ("__weakref__", "used")

    def __init__(self, **arrays):
        super().__init__(**arrays)
        self.used = False

    def use(self, kernel):
        """Mark the cache as backpropagated; a second call is an error naming ``kernel``."""
        if self.used:
            raise RuntimeError(f"{kernel}: this cache was already backpropagated; a cache is "
                               f"single-use (run the forward again for a second backward)")
        self.used = True
        return self
