"""The web pages (Dutch by default, English on request) and the HTTP API (/api/v1), served by one FastAPI app
over the same Service the command line uses: one place decides what is allowed."""
