"""A company's torch library: layers and ops torch2nnx has no row for."""
