"""Test doubles shipped with the package: a fake OpenAI Images API server.

They are importable by the tests, the benchmarks and the examples, and let a
user try the app without an API key (``python -m blog_images_tui.testing.fake_images_api``).
"""
