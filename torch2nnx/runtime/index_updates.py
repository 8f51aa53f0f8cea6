"""torch's scatter and index updates over jnp's ``.at[...]``."""
