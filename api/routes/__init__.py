"""Route handlers, one module per resource; `create_app` collects them."""
