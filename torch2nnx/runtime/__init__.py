"""Code that is copied into generated files (never imported by them).

``helpers.py`` holds the jax functions and small NNX modules that translated
models use where NNX has no counterpart; ``transforms.py`` the weight
transforms the weights module applies. They import only jax, flax and numpy,
so the generated files depend on nothing else; ``hf/`` holds transformers'
infrastructure (rules/transformers_rules.py), emitted the same way. The
emitter copies each definition's source (and the definitions it uses) into
the output.
"""
