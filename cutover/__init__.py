"""The composition root: the `cutover` command line and the one configuration model.

`cutover.config` defines every setting as a typed, validated model; `cutover.configfile` reads a
YAML file into it; `cutover.cli` wires the areas (`shadow`, `fixtures`, `scenarios`, `load`,
`reports`) together from that config. Nothing below this package reads settings on its own.
"""
