"""The order-ETA agent: answers "when will my order arrive?" with tool calls."""

from .eta import EtaAgent
from .tools import Toolbox, digest

__all__ = ["EtaAgent", "Toolbox", "digest"]
