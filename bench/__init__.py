"""Benchmarks of blog-images against the fake Images API and moto S3: ``python -m bench``."""
