"""Torch checkpoints into NNX checkpoints: ``torch2nnx convert`` and the
``load_checkpoint`` / ``load_torch_checkpoint`` of every weights module.

``read`` opens torch checkpoints tensor by tensor (never running pickled
code), ``convert`` maps them onto an abstract model through the weights
module, ``write`` writes Orbax or safetensors atomically, ``load`` fills a
real or abstract model. Needs jax, flax, numpy, orbax-checkpoint; torch only
for ``.pt`` files.
"""

from .convert import Converted, MismatchError, convert_checkpoint
from .load import load_checkpoint, load_torch_checkpoint
from .read import CheckpointError, UnsafeCheckpointError, open_checkpoint
from .write import OutputExistsError

__all__ = ["CheckpointError", "Converted", "MismatchError", "OutputExistsError", "UnsafeCheckpointError",
           "convert_checkpoint", "load_checkpoint", "load_torch_checkpoint", "open_checkpoint"]
