"""The API's routers, one module per resource: the store, jobs, the server itself, and the page."""
