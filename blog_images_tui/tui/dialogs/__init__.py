"""Modal dialogs: confirmations and the store URL prompt."""

from blog_images_tui.tui.dialogs.confirm import ConfirmDialog
from blog_images_tui.tui.dialogs.store_url import StoreUrlDialog

__all__ = ["ConfirmDialog", "StoreUrlDialog"]
