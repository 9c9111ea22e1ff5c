"""Models built from the layers in scratchrnn.nn."""
from .charlm import CharLM
