"""lab05: CharModel.backward stops at the LSTM (the embedding never gets a gradient)."""
from labs._reference import lab05 as _ref
from labs._reference.lab05 import *  # noqa: F401,F403


class CharModel(_ref.CharModel):
    def backward(self, dlogits):
        self.rnn.backward(self.head.backward(dlogits))                      # BUG: no embed.backward
        self.embed._pop()                                                    # (drop its cache)
