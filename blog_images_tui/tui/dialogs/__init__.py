"""Modal dialogs: confirmations, the store URL prompt, alt text."""

from blog_images_tui.tui.dialogs.alt_text import AltTextDialog
from blog_images_tui.tui.dialogs.confirm import ConfirmDialog
from blog_images_tui.tui.dialogs.store_url import StoreUrlDialog

__all__ = ["AltTextDialog", "ConfirmDialog", "StoreUrlDialog"]
