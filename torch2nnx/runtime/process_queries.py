"""torch utilities with a meaning in one JAX process: sequence ops whose result
size depends on the values (eager only), torch.hub's cache directory and downloads,
and torch's checkpoint reader (torch files are read with torch: data_io.torch_load)."""

import jax.numpy as jnp
import numpy as np


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """torch.cosine_similarity: each input divided by its norm (at least eps) along dim."""
    x1, x2 = jnp.broadcast_arrays(x1, x2)
    n1 = jnp.maximum(jnp.linalg.norm(x1, axis=dim, keepdims=True), eps)
    n2 = jnp.maximum(jnp.linalg.norm(x2, axis=dim, keepdims=True), eps)
    return jnp.sum((x1 / n1) * (x2 / n2), axis=dim)


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    """torch.unique_consecutive over the flattened input (dim=None): the first of
    each run of equal values. The size depends on the values: eager only."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive with dim: only dim=None is translated")
    flat = np.asarray(x).reshape(-1)
    starts = np.concatenate([[True], flat[1:] != flat[:-1]]) if flat.size else np.zeros(0, bool)
    out = [jnp.asarray(flat[starts])]
    if return_inverse:
        out.append(jnp.asarray((np.cumsum(starts) - 1).reshape(np.shape(x))))
    if return_counts:
        out.append(jnp.asarray(np.diff(np.append(np.flatnonzero(starts), flat.size))))
    return out[0] if len(out) == 1 else tuple(out)


def hub_dir():
    """torch.hub.get_dir: $TORCH_HOME/hub, TORCH_HOME defaulting to
    $XDG_CACHE_HOME/torch (~/.cache/torch), as torch computes it."""
    import os

    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return os.path.join(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch"))), "hub")


def hub_hash_regex():
    """torch.hub.HASH_REGEX: the hash in a checkpoint's file name (resnet18-5c106cde.pth)."""
    import re

    return re.compile(r"-([a-f0-9]*)\.")


def hub_download_url_to_file(url, dst, hash_prefix=None, progress=True):
    """torch.hub.download_url_to_file: the URL's bytes written to ``dst`` (through a
    temporary file beside it), their sha256 checked against ``hash_prefix``."""
    import hashlib
    import os
    import shutil
    import tempfile
    import urllib.request

    dst = os.path.expanduser(dst)
    request = urllib.request.Request(url, headers={"User-Agent": "torch.hub"})
    with urllib.request.urlopen(request) as u:
        tmp = tempfile.NamedTemporaryFile(delete=False, dir=os.path.dirname(dst) or ".")
        try:
            sha256 = hashlib.sha256()
            with tmp:
                while chunk := u.read(8192):
                    tmp.write(chunk)
                    sha256.update(chunk)
            digest = sha256.hexdigest()
            if hash_prefix is not None and not digest.startswith(hash_prefix):
                raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest}")')
            shutil.move(tmp.name, dst)
        finally:
            if os.path.exists(tmp.name):
                os.remove(tmp.name)


def hub_load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                                 file_name=None, weights_only=False):
    """torch.hub.load_state_dict_from_url: the checkpoint downloaded once into
    ``model_dir`` ($TORCH_HOME/hub/checkpoints), its sha256 checked against the hash in
    its name where ``check_hash``, then read as torch_load reads a torch file (with
    torch, tensors only, on the CPU): a state_dict for the weights module's
    load_torch_state_dict. (torch's legacy zip format of the 1.5 era is not read.)"""
    import os
    from urllib.parse import urlparse

    model_dir = model_dir or os.path.join(hub_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name or os.path.basename(urlparse(url).path)
    cached = os.path.join(model_dir, filename)
    if not os.path.exists(cached):
        found = hub_hash_regex().search(filename) if check_hash else None
        hub_download_url_to_file(url, cached, found.group(1) if found else None, progress=progress)
    return torch_load(cached)


def torch_serialization():
    """torch.serialization: torch's reader of torch checkpoint files, which torch_load
    uses for them (its allow-lists, safe_globals, hold for that read)."""
    import torch.serialization

    return torch.serialization


class TorchVersion(str):
    """torch.__version__: a string that compares as a version with strings and
    tuples, as torch's does (release numbers; a pre-release before its release;
    the local tag, +cu130, after the plain version)."""

    @staticmethod
    def _key(v):
        import re

        if isinstance(v, tuple):
            v = ".".join(map(str, v))
        public, _, local = str(v).partition("+")
        m = re.match(r"v?(\d+(?:\.\d+)*)(.*)", public)
        release = tuple(int(p) for p in m.group(1).split(".")) if m else ()
        while release and release[-1] == 0:
            release = release[:-1]
        rest = m.group(2) if m else public
        return release, 0 if re.match(r"\.?(a|b|rc|dev|alpha|beta|c|pre|preview)", rest) else 1, bool(local)

    def __lt__(self, other):
        return self._key(self) < self._key(other)

    def __le__(self, other):
        return self._key(self) <= self._key(other)

    def __gt__(self, other):
        return self._key(self) > self._key(other)

    def __ge__(self, other):
        return self._key(self) >= self._key(other)

    def __eq__(self, other):
        return self._key(self) == self._key(other)

    def __ne__(self, other):
        return not self == other

    __hash__ = str.__hash__
