"""A model card as a reader wants it: what it predicts, what it was trained on, how it scored, its licence."""

from __future__ import annotations

from typing import Any


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}" if abs(value) < 100 else f"{value:,.1f}"


def _predicts(card: dict[str, Any]) -> str:
    partitionings = card.get("partitionings") or []
    scene = (card.get("scene") or {}).get("labels") or []
    parts = []
    if partitionings:
        levels = ", ".join(f"{p.get('name', '?')} ({_number(p.get('classes', p.get('cells', '?')))} cells)"
                           if isinstance(p, dict) else str(p) for p in partitionings)
        parts.append(f"places on {len(partitionings)} level(s): {levels}")
    else:
        parts.append("no places (scene only: learn a personal model from your geotagged photos)")
    if scene:
        parts.append("scene: " + ", ".join(map(str, scene)))
    return "; ".join(parts)


def evaluation_table(evaluation: dict[str, Any]) -> list[str]:
    """Rows = evaluations, columns = their metrics, aligned for a monospace font."""
    rows = {name: values for name, values in evaluation.items() if isinstance(values, dict)}
    if not rows:
        return [f"{name}: {_number(value)}" for name, value in evaluation.items()]
    metrics = list(dict.fromkeys(metric for values in rows.values() for metric in values))
    table = [["evaluation", *metrics]] + [[name, *(_number(values.get(m, "")) for m in metrics)]
                                          for name, values in rows.items()]
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]


def card_summary(card: dict[str, Any]) -> str:
    """Plain text (never rich text: cards come from files the user imported)."""
    size = (card.get("input") or {}).get("size_px", "?")
    crops = card.get("crops") or {}
    lines = [f"Model: {card.get('model_id', '?')}",
             f"Backbone: {card.get('backbone', '?')}, input {size} px, {crops.get('count', 1)} crop(s)"
             f" ({crops.get('aggregation', 'mean')})",
             f"Predicts: {_predicts(card)}", "", "Training data"]
    training = card.get("training") or {}
    lines += [f"  {key}: {value}" for key, value in training.items()] or ["  (not stated)"]
    lines += ["", "Evaluation"]
    lines += ["  " + row for row in evaluation_table(card.get("evaluation") or {})] or ["  (none)"]
    lines += ["", f"Licence: {card.get('license') or 'not stated'}"]
    return "\n".join(lines)
