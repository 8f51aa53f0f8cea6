"""transformers infrastructure in JAX (rules/transformers_rules.py); copied into generated files like helpers.py."""
