"""One module per console section; each lists its route handlers in `HANDLERS`."""
