"""``python -m torch2nnx`` runs the command line."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="torch2nnx")
