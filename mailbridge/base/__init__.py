"""Base: what every part needs and nothing else provides.

clock (the only module that reads the time), errors (the exception tree), logs, tls (the one TLS-context
helper) and config/ (mailbridge.toml read once into frozen Settings, with precise errors).
May import: the standard library only (and tomllib/tomlkit for the configuration file); no other part.
"""
