import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# torch2nnx's cache (torch2nnx/cache.py) goes to a temporary directory, never the user's
if "TORCH2NNX_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["TORCH2NNX_CACHE_DIR"] = tempfile.mkdtemp(prefix="t2n-cache-")
