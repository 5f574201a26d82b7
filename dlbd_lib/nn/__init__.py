"""Neural-network building blocks with torch.nn's names, shapes and parameter names."""

from dlbd_lib.nn.module import IncompatibleKeys, Module, Parameter

__all__ = ["Module", "Parameter", "IncompatibleKeys"]
