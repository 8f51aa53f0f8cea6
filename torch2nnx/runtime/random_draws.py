"""torch's random functions drawing from an nnx.Rngs stream's keys."""
