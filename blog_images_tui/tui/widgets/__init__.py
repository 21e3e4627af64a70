"""Widgets of the main screen: store tree, image panel, preview, generate form, jobs list."""
