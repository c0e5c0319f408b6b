"""One selector syntax for choosing receptors and sources by name or by their fields.

``"province=Guangxi,kind=river"`` selects items whose province is Guangxi AND whose kind is
river; ``"province=Guangxi|Hainan"`` allows either value; ``"Nanliu,Qin"`` names items. Field
terms and names cannot be mixed. Items are dicts of text fields, one of them ``"name"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bbw_bay.errors import BadInputError, unknown_name


def parse_selector(
    selector: str, *, error: type[BadInputError] = BadInputError
) -> tuple[dict[str, set[str]], list[str]]:
    """Split a selector into ({field: allowed values}, [bare names]).

    Parameters
    ----------
    selector : e.g. ``"province=Guangxi,kind=river"``, ``"province=Guangxi|Hainan"`` or
        ``"Nanliu,Qin"``
    error : the error class raised for a malformed selector

    Returns
    -------
    ({field: allowed values}, [names]); one of them is empty
    """
    terms = [t.strip() for t in selector.split(",") if t.strip()]
    if not terms:
        raise error(f"empty selector {selector!r}")
    fields: dict[str, set[str]] = {}
    names: list[str] = []
    for term in terms:
        if "=" in term:
            key, _, value = term.partition("=")
            values = {v.strip() for v in value.split("|") if v.strip()}
            if not key.strip() or not values:
                raise error(f"selector term {term!r} must be FIELD=VALUE[|VALUE...]")
            fields.setdefault(key.strip(), set()).update(values)
        else:
            names.append(term)
    if fields and names:
        raise error(f"selector {selector!r} mixes FIELD=VALUE terms and names; use one form")
    return fields, names


def select_items(
    items: Sequence[Mapping[str, str]],
    selector: str,
    *,
    what: str,
    error: type[BadInputError] = BadInputError,
) -> list[int]:
    """Indices of the items matching ``selector`` (never empty).

    Parameters
    ----------
    items : one dict of text fields per item, each with a ``"name"``
    selector : see `parse_selector`
    what : the items' kind for messages ("source", "receptor")
    error : the error class raised for an unknown field or name, or an empty selection

    Returns
    -------
    list of int, in the order of the names given (or of ``items`` for field terms)
    """
    fields, names = parse_selector(selector, error=error)
    known_fields = sorted(items[0]) if items else []
    for key in fields:
        if key not in known_fields:
            raise error(
                f"unknown {what} field {key!r} in selector {selector!r}; "
                f"fields: {', '.join(known_fields)}"
            )
    if names:
        all_names = [item["name"] for item in items]
        for name in names:
            if name not in all_names:
                raise error(unknown_name(what, name, all_names))
        return [all_names.index(name) for name in names]
    chosen = [
        k
        for k, item in enumerate(items)
        if all(item[key] in values for key, values in fields.items())
    ]
    if not chosen:
        raise error(f"selector {selector!r} matches no {what}")
    return chosen


__all__ = ["parse_selector", "select_items"]
