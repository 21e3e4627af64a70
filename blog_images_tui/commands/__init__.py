"""CLI subcommands, one module each: ``register(subparsers, common)`` and ``run(args) -> int``.

Modules import only the standard library at top level so ``blog-images --help``
stays fast; the heavy parts (openai, s3fs, textual) load inside ``run``.
"""

#: (subcommand, module) in the order ``--help`` lists them.
COMMANDS = [
    ("generate", "blog_images_tui.commands.generate"),
    ("ls", "blog_images_tui.commands.listing"),
    ("show", "blog_images_tui.commands.show"),
    ("recover", "blog_images_tui.commands.recover"),
    ("doctor", "blog_images_tui.commands.doctor"),
    ("models", "blog_images_tui.commands.models"),
    ("batch", "blog_images_tui.commands.batch"),
    ("templates", "blog_images_tui.commands.templates"),
    ("tui", "blog_images_tui.commands.tui"),
]
