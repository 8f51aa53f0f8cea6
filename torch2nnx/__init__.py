"""torch2nnx: translate PyTorch nn.Module source into Flax NNX source."""

__version__ = "0.1.0"

from .api import TranslateResult, ParseError, translate  # noqa: E402

__all__ = ["translate", "TranslateResult", "ParseError", "__version__"]
