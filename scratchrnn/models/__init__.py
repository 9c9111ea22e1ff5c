"""Models built from the layers in scratchrnn.nn."""
from .charlm import CharLM
from .stepper import Stepper
from .classifier import SequenceClassifier
from .seq2seq import Seq2Seq
from .forecaster import Forecaster, mse_loss
