"""Screens of the app."""

from blog_images_tui.tui.screens.main import MainScreen

__all__ = ["MainScreen"]
