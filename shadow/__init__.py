"""Shadow verification: mirror live requests to the candidate and compare the answers.

Will hold the pure comparison core (routes, safety classification, normalisation, diff, noise,
redaction) and, over it, thin adapters: the mitmproxy addon, the mirror client, the diff store,
record and replay. The core performs no I/O; the adapters are the only modules that touch sockets,
files or databases.
"""
