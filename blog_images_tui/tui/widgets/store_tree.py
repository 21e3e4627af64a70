"""The store browser: posts, then sections, then images, one level at a time.

A plain :class:`~textual.widgets.Tree` filled from ``Store`` listings (not a
``DirectoryTree``: the store may be S3, and the layout has levels we name).
A level is listed when its node is first expanded, in a thread worker that
posts :class:`~blog_images_tui.tui.messages.ChildrenLoaded`; refresh lists
again every level that is open.

Only the user's moves are announced (``Tree.NodeHighlighted``, which fills the
form and shows the Image tab): a cursor the program puts somewhere (the first
post once listed, a newly stored image) is moved with the highlight
prevented, and Textual's re-announcement of the same node when the lines are
rebuilt is dropped, so a reload never moves tabs or focus.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from blog_images_tui.errors import BlogImagesError, StoreUnusable
from blog_images_tui.ids import PostId, SectionRef
from blog_images_tui.storage import ImageEntry, Store
from blog_images_tui.tui.messages import ChildrenLoaded, ErrorReported, ListingFailed, RootMissing, SectionRevealed


@dataclass
class PostNode:
    post_id: PostId
    loaded: bool = False

    @property
    def key(self) -> tuple:
        return ("post", self.post_id)


@dataclass
class SectionNode:
    section: SectionRef
    loaded: bool = False

    @property
    def key(self) -> tuple:
        return ("section", self.section.section_id)


@dataclass
class ImageNode:
    entry: ImageEntry

    @property
    def key(self) -> tuple:
        return ("image", self.entry.image_name)


NodeData = PostNode | SectionNode | ImageNode


def _label(data: NodeData) -> Text:
    if isinstance(data, PostNode):
        return Text.assemble(("post ", "dim"), (str(data.post_id), "bold"))
    if isinstance(data, SectionNode):
        return Text.assemble(("section ", "dim"), str(data.section.section_id))
    label = Text(data.entry.image_name)
    if not data.entry.has_metadata:
        label.append(" (no metadata)", "dim italic")
    return label


class StoreTree(Tree[NodeData]):
    """Posts, sections and images of one store. Right opens a level, Left closes it (or goes up)."""

    BORDER_TITLE = "Store"
    BINDINGS = [
        Binding("right", "open_node", "Open", show=False),
        Binding("left", "close_node", "Close", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("posts", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.store: Store | None = None
        #: the node last announced as highlighted (Textual announces it again when lines rebuild)
        self._announced: TreeNode[NodeData] | None = None

    # -- keys -----------------------------------------------------------------
    def action_open_node(self) -> None:
        """Open the post or section under the cursor; on an open one, step into it."""
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_node(self) -> None:
        """Close the open post or section under the cursor; elsewhere, go to the level above."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    # -- public ------------------------------------------------------------
    def set_store(self, store: Store) -> None:
        """Show ``store``: clear everything and list its posts."""
        self.store = store
        self.border_title = f"Store {store.url}"
        self.clear()
        self._announced = None
        self.root.data = None
        self._placeholder(self.root, "loading…")
        self._list(self.root)

    def reload(self) -> None:
        """List again every open level (posts, open posts, open sections)."""
        if self.store is None:
            return
        for node in self._walk(self.root):
            if isinstance(node.data, (PostNode, SectionNode)) and not node.is_expanded:
                node.data.loaded = False  # listed again when next opened
        self._list(self.root)
        for node in self._open_nodes(self.root):
            self._list(node)

    def reload_section(self, section: SectionRef, select: str | None = None) -> None:
        """List the levels down to ``section`` and show it open, selecting image ``select``."""
        store = self.store
        if store is None:
            return

        def reveal() -> None:
            try:
                posts = store.list_posts()
                sections = store.list_sections(section.post_id)
                images = store.list_images(section)
            except BlogImagesError as error:  # reported, never raised into Textual
                self.post_message(ErrorReported(error))
                return
            self.post_message(SectionRevealed(store, section, posts, sections, images, select))

        self.run_worker(reveal, thread=True, group="reveal", exit_on_error=False)

    def find_image(self, entry: ImageEntry) -> TreeNode[NodeData] | None:
        section = self._section_node(entry.section)
        if section is None:
            return None
        return next((child for child in section.children
                     if isinstance(child.data, ImageNode) and child.data.entry.image_name == entry.image_name), None)

    @property
    def image_count(self) -> int:
        """Images in the sections listed so far (for tests and status)."""
        return sum(1 for node in self._walk(self.root) if isinstance(node.data, ImageNode))

    # -- listing -------------------------------------------------------------
    def _list(self, node: TreeNode[NodeData]) -> None:
        store = self.store
        if store is None:
            return
        data = node.data

        def list_level() -> None:
            try:
                if data is None:
                    items: list = [PostNode(post) for post in store.list_posts()]
                    if not items:
                        missing = store.missing_root()
                        if missing is not None:
                            self.post_message(RootMissing(store, missing))
                            return
                elif isinstance(data, PostNode):
                    items = [SectionNode(SectionRef(data.post_id, sid)) for sid in store.list_sections(data.post_id)]
                elif isinstance(data, SectionNode):
                    items = [ImageNode(entry) for entry in store.list_images(data.section)]
                else:
                    return
            except BlogImagesError as error:  # the store wraps its backend's errors
                self.post_message(ListingFailed(store, node, error))
                return
            self.post_message(ChildrenLoaded(store, node, items))

        # One worker per node; a newer listing of the same node replaces an older one.
        self.run_worker(list_level, thread=True, group=f"list-{id(node)}", exclusive=True, exit_on_error=False)

    @on(Tree.NodeExpanded)
    def _expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        data = event.node.data
        if isinstance(data, (PostNode, SectionNode)) and not data.loaded:
            if not event.node.children:
                self._placeholder(event.node, "loading…")
            self._list(event.node)

    @on(ChildrenLoaded)
    def _children_loaded(self, message: ChildrenLoaded) -> None:
        message.stop()
        if message.store is not self.store or not self._attached(message.node):
            return  # a listing from the store we switched away from, or of a node gone meanwhile
        self._apply(message.node, message.items)

    @on(RootMissing)
    def _root_missing(self, message: RootMissing) -> None:
        message.stop()
        if message.store is not self.store:
            return
        self.root.remove_children()
        if message.what == "folder":  # fine: the first image creates it, but not an empty store either
            self._placeholder(self.root, "new folder: g creates it")
            return
        self._placeholder(self.root, "bucket not found: ctrl+p")
        self.post_message(ErrorReported(StoreUnusable(
            f"the bucket of {message.store.url} does not exist: check the URL (ctrl+p), or create the bucket")))

    @on(ListingFailed)
    def _listing_failed(self, message: ListingFailed) -> None:
        message.stop()
        if message.store is not self.store or not self._attached(message.node):
            return
        node = message.node
        node.remove_children()
        self._placeholder(node, "cannot list: press r")  # short: the tree is narrow at 80 columns
        if isinstance(node.data, (PostNode, SectionNode)):
            node.data.loaded = False
        self.post_message(ErrorReported(message.error))

    @on(SectionRevealed)
    def _revealed(self, message: SectionRevealed) -> None:
        message.stop()
        if message.store is not self.store:
            return
        self._apply(self.root, [PostNode(post) for post in message.posts], keep_placeholder=False)
        post = self._child(self.root, ("post", message.section.post_id))
        if post is None:
            return
        self._apply(post, [SectionNode(SectionRef(message.section.post_id, sid)) for sid in message.sections])
        post.expand()
        section = self._child(post, ("section", message.section.section_id))
        if section is None:
            return
        self._apply(section, [ImageNode(entry) for entry in message.images])
        section.expand()
        if message.select:
            image = self._child(section, ("image", message.select))
            if image is not None:
                self.select_image_node(image)

    def select_image_node(self, node: TreeNode[NodeData]) -> None:
        """Put the cursor on ``node`` for the program: no highlight is announced (see the module doc)."""
        self._move_quietly(node)
        if isinstance(node.data, ImageNode):
            self.post_message(self.Revealed(node.data.entry))

    @dataclass
    class Revealed(Message):
        """The program put the cursor on an image (a job stored it): the screen decides what to show."""

        entry: ImageEntry

    def _move_quietly(self, node: TreeNode[NodeData]) -> None:
        # Building the lines re-announces the old cursor node too: both inside the prevention.
        with self.prevent(Tree.NodeHighlighted):
            _ = self.last_line  # build the lines so the node knows its line number
            self.move_cursor(node)
        self._announced = node

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        if event.node is self._announced:
            event.stop()  # the same node again (lines rebuilt after a reload): not a move of the user's
            return
        self._announced = event.node

    # -- helpers -------------------------------------------------------------
    def _apply(self, node: TreeNode[NodeData], items: list[NodeData], *, keep_placeholder: bool = False) -> None:
        """Make ``node``'s children match ``items`` (sorted), keeping nodes that stay (and their subtrees)."""
        if isinstance(node.data, (PostNode, SectionNode)):
            node.data.loaded = True
        wanted = {item.key: item for item in items}
        existing: dict[tuple, TreeNode[NodeData]] = {}
        for child in list(node.children):
            if child.data is None or child.data.key not in wanted:
                child.remove()
            else:
                existing[child.data.key] = child
        for index, item in enumerate(items):
            kept = existing.get(item.key)
            if kept is not None:
                if isinstance(item, ImageNode):
                    kept.data = item
                    kept.set_label(_label(item))
                continue
            node.add(_label(item), data=item, before=index, allow_expand=not isinstance(item, ImageNode))
        if node is self.root and items and self.cursor_node is None:
            self._move_quietly(node.children[0])  # a cursor to start from, not a choice of the user's
        if not items:
            empty: dict[type[NodeData] | None, str] = {None: "no posts (g: generate)", PostNode: "no sections",
                     SectionNode: "no images"}
            self._placeholder(node, empty.get(type(node.data) if node.data else None, "empty"))

    def _attached(self, node: TreeNode[NodeData]) -> bool:
        """True while ``node`` is still part of this tree (not removed, not cleared away)."""
        while node.parent is not None:
            if node not in node.parent.children:
                return False
            node = node.parent
        return node is self.root

    def _placeholder(self, node: TreeNode[NodeData], text: str) -> None:
        node.add_leaf(Text(text, style="dim italic"))

    def _child(self, node: TreeNode[NodeData], key: tuple) -> TreeNode[NodeData] | None:
        return next((child for child in node.children if child.data is not None and child.data.key == key), None)

    def _section_node(self, section: SectionRef) -> TreeNode[NodeData] | None:
        post = self._child(self.root, ("post", section.post_id))
        return None if post is None else self._child(post, ("section", section.section_id))

    def _open_nodes(self, node: TreeNode[NodeData]) -> Iterator[TreeNode[NodeData]]:
        for child in node.children:
            if child.is_expanded and isinstance(child.data, (PostNode, SectionNode)):
                yield child
                yield from self._open_nodes(child)

    def _walk(self, node: TreeNode[NodeData]) -> Iterator[TreeNode[NodeData]]:
        for child in node.children:
            yield child
            yield from self._walk(child)
