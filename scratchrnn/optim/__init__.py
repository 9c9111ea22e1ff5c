"""Optimisers, gradient clipping and learning-rate schedules (NumPy only).

Update rules match ``torch.optim`` of the same name and arguments; see each class's
docstring for the equations.
"""
from .clip import clip_grad_norm_, clip_grad_value_
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .schedules import BudgetCosineLR, CosineLR, StepLR

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop",
    "clip_grad_norm_", "clip_grad_value_",
    "StepLR", "CosineLR", "BudgetCosineLR",
]
