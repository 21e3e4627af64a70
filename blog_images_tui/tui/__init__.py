"""The terminal app: browse a store, write a prompt, generate, preview.

A thin face over the core: every store call and every generation goes
through :mod:`blog_images_tui.storage`, :mod:`blog_images_tui.generation` and
the job engine, run in workers that post the typed messages of
:mod:`blog_images_tui.tui.messages`. Start it with :func:`blog_images_tui.tui.app.make_app`.
"""
