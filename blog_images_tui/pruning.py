"""Removing images: by name, or the rest of a variant group once one is kept.

Nothing is removed that another image names as its ``source`` (or among its
``references``) unless the caller forces it: an edit's lineage must not point
at nothing. Finding those means reading every metadata file of the store
(one listing per post and section, then one read per metadata file), so the
check costs a walk of the store; it runs once per delete, not per image.
Removal goes through :meth:`Store.delete_image` (metadata first, then the
image: a half-deleted pair is an image without metadata, which ``doctor``
reports, never metadata pointing at nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from blog_images_tui import layout
from blog_images_tui.errors import BadInput
from blog_images_tui.ids import SectionRef, parse_filename
from blog_images_tui.storage import ImageEntry, Store


@dataclass(frozen=True)
class DeletePlan:
    """What a delete would remove, and what still names those images (refused unless forced)."""

    section: SectionRef
    targets: list[ImageEntry]
    #: target filename -> "post/section/name" of the images that name it as source or reference
    dependents: dict[str, list[str]] = field(default_factory=dict)
    kept: str | None = None


def _key(post_id: Any, section_id: Any, name: str) -> tuple[str, str, str]:
    return (str(post_id), str(section_id), name)


def find_dependents(store: Store, section: SectionRef, names: Iterable[str]) -> dict[str, list[str]]:
    """For each of ``names`` in ``section``: the images elsewhere in the store that came from it."""
    wanted = {_key(section.post_id, section.section_id, name): name for name in names}
    found: dict[str, list[str]] = {}
    for post_id in store.list_posts():
        for section_id in store.list_sections(post_id):
            here = SectionRef(post_id, section_id)
            for entry in store.list_images(here):
                if not entry.has_metadata:
                    continue
                try:
                    metadata = store.read_metadata(here, entry.filename)
                except (FileNotFoundError, ValueError):
                    continue
                parents = [metadata.get("source")] + list(metadata.get("references") or [])
                for parent in parents:
                    if not isinstance(parent, dict) or "post_id" not in parent:
                        continue
                    key = _key(parent.get("post_id"), parent.get("section_id"), str(parent.get("name")))
                    child = _key(post_id, section_id, entry.filename)
                    if key in wanted and child != key:
                        found.setdefault(wanted[key], []).append("/".join(child))
    return found


def _outside(section: SectionRef, targets: list[ImageEntry], dependents: dict[str, list[str]]) -> dict[str, list[str]]:
    # An image deleted together with its source does not hold the source back.
    gone = {"/".join(_key(section.post_id, section.section_id, t.filename)) for t in targets}
    kept = {name: [child for child in children if child not in gone] for name, children in dependents.items()}
    return {name: children for name, children in kept.items() if children}


def _entries(store: Store, section: SectionRef) -> dict[str, ImageEntry]:
    return {entry.filename: entry for entry in store.list_images(section)}


def plan_delete(store: Store, section: SectionRef, names: Iterable[str]) -> DeletePlan:
    """The images ``names`` (with or without extension) in ``section``; BadInput for any that is missing."""
    present = _entries(store, section)
    targets, missing = [], []
    for name in names:
        stem, dot, ext = name.rpartition(".")
        stem = stem if dot and ext.lower() in layout.EXTENSION_FORMATS else name
        entry = present.get(parse_filename(stem))
        if entry is None:
            missing.append(name)
        elif entry not in targets:
            targets.append(entry)
    if missing:
        raise BadInput(f"no image {', '.join(missing)} in {store.display_path(layout.raw_dir(section))}")
    dependents = find_dependents(store, section, [t.filename for t in targets])
    return DeletePlan(section, targets, _outside(section, targets, dependents))


def group_members(store: Store, section: SectionRef, group_id: str) -> list[ImageEntry]:
    """The images of variant group ``group_id`` in ``section``, in name order (one read per metadata)."""
    members = []
    for entry in store.list_images(section):
        if not entry.has_metadata:
            continue
        try:
            metadata = store.read_metadata(section, entry.filename)
        except (FileNotFoundError, ValueError):
            continue
        if metadata.get("group_id") == group_id:
            members.append(entry)
    return members


def plan_prune(store: Store, section: SectionRef, group_id: str, keep: str) -> DeletePlan:
    """Every other image of variant group ``group_id`` in ``section``, keeping ``keep``."""
    keep_stem = keep.rpartition(".")[0] if "." in keep else keep
    members = group_members(store, section, group_id)
    if not members:
        raise BadInput(f"no variants of group {group_id!r} in {store.display_path(layout.raw_dir(section))}")
    if keep_stem not in {entry.filename for entry in members}:
        names = ", ".join(sorted(entry.filename for entry in members))
        raise BadInput(f"{keep} is not in group {group_id} (its images: {names})")
    targets = sorted((entry for entry in members if entry.filename != keep_stem), key=lambda e: e.image_name)
    dependents = find_dependents(store, section, [t.filename for t in targets])
    return DeletePlan(section, targets, _outside(section, targets, dependents), kept=keep_stem)


def execute(store: Store, plan: DeletePlan, *, force: bool = False) -> list[ImageEntry]:
    """Remove the plan's images (refusing, before removing any, if one is a source and not ``force``)."""
    if plan.dependents and not force:
        name, children = next(iter(plan.dependents.items()))
        raise BadInput(f"{name} is the source of {', '.join(children[:5])}: not deleted (nothing was); "
                       "pass --force to delete it anyway")
    for entry in plan.targets:
        store.delete_image(plan.section, entry.image_name)
    return plan.targets
