"""The ways in: the command line, the HTTP API and web pages, and the bootstrap that wires them."""
