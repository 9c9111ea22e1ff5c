"""Modules that own parameters (``torch.nn`` names and conventions)."""
from .module import Module, Parameter, no_grad, is_grad_enabled
