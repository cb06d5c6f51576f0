"""Lay out an entity's relations as a picture, rendered server-side as SVG by
``templates/catalog/_graph.html`` (no JavaScript, no inline styles: CSS classes only).

The entity sits in the middle; related entities are grouped by relation type in two
columns (groups go to the shorter column), each group under a heading; an arrow from the
entity to every related entity carries the relation type. Targets that are not in the
catalog are drawn dashed and are not links. Large groups are cut with a "+N more" node.
"""

from __future__ import annotations

NODE_W, NODE_H = 210, 42
GAP, HEADER = 10, 24
WIDTH = 960
PAD = 16
MAX_PER_GROUP = 8
MAX_CHARS = 26


def _short(text: str, limit: int = MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layout(entity, relations: list[dict]) -> dict:
    groups: dict[str, list[dict]] = {}
    for rel in relations:
        groups.setdefault(rel["type"], []).append(rel)
    columns: list[list[tuple[str, list[dict]]]] = [[], []]
    heights = [0, 0]
    for rtype in sorted(groups, key=lambda t: (-len(groups[t]), t)):
        items = groups[rtype]
        shown = min(len(items), MAX_PER_GROUP) + (1 if len(items) > MAX_PER_GROUP else 0)
        side = 0 if heights[0] <= heights[1] else 1
        columns[side].append((rtype, items))
        heights[side] += HEADER + shown * (NODE_H + GAP) + GAP
    height = max(max(heights) + 2 * PAD, NODE_H + 4 * PAD)
    center = {"x": (WIDTH - NODE_W) / 2, "y": (height - NODE_H) / 2, "w": NODE_W, "h": NODE_H,
              "kind": entity.kind, "name": _short(entity.name), "title": entity.ref}
    nodes, edges, headers = [], [], []
    for side, column in enumerate(columns):
        x = PAD if side == 0 else WIDTH - PAD - NODE_W
        y = PAD + (height - 2 * PAD - heights[side]) / 2
        for rtype, items in column:
            headers.append({"x": x + (0 if side == 0 else NODE_W),
                            "y": y + HEADER - 8, "text": rtype,
                            "anchor": "start" if side == 0 else "end"})
            y += HEADER
            for rel in items[:MAX_PER_GROUP]:
                nodes.append({"x": x, "y": y, "w": NODE_W, "h": NODE_H,
                              "kind": rel["target_kind"], "name": _short(rel["target_name"]),
                              "title": rel["target"], "url": rel["target_url"],
                              "missing": not rel["target_exists"]})
                edges.append(_edge(center, x, y, side, rtype, not rel["target_exists"]))
                y += NODE_H + GAP
            if len(items) > MAX_PER_GROUP:
                nodes.append({"x": x, "y": y, "w": NODE_W, "h": NODE_H, "kind": "",
                              "name": f"+{len(items) - MAX_PER_GROUP} more", "title": rtype,
                              "url": None, "missing": False, "more": True})
                y += NODE_H + GAP
            y += GAP
    return {"width": WIDTH, "height": height, "center": center, "nodes": nodes,
            "edges": edges, "headers": headers, "empty": not relations}


def _edge(center: dict, x: float, y: float, side: int, label: str, missing: bool) -> dict:
    cy = center["y"] + NODE_H / 2
    ny = y + NODE_H / 2
    if side == 0:  # arrow from the centre's left edge to the node's right edge
        x1, x2 = center["x"], x + NODE_W + 2
        lx, anchor = x2 + 8, "start"
    else:
        x1, x2 = center["x"] + NODE_W, x - 2
        lx, anchor = x2 - 8, "end"
    bend = (x2 - x1) / 2
    d = f"M{x1:.0f},{cy:.0f} C{x1 + bend:.0f},{cy:.0f} {x2 - bend:.0f},{ny:.0f} {x2:.0f},{ny:.0f}"
    return {"d": d, "label": label, "lx": lx, "ly": ny - 5, "anchor": anchor,
            "missing": missing}
