"""limner: compositional image generation by an agent that knows its tools."""

__version__ = "0.1.0"
