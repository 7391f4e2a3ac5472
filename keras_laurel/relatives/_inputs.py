"""Input checks shared by the relatives' layers."""


def check_same_shapes(owner, shapes, least, names):
    """`shapes`: a list of at least `least` input shapes, all equal where
    known; returns the first. `names(j)` names the j-th input in errors."""
    single = (
        hasattr(shapes, "as_list")
        or not isinstance(shapes, (list, tuple))
        or not shapes
        or shapes[0] is None
        or isinstance(shapes[0], int)
    )
    if single:
        raise ValueError(
            f"{owner}: call the layer on a list of tensors; received one of shape {shapes!r}."
        )
    shapes = [tuple(s.as_list()) if hasattr(s, "as_list") else tuple(s) for s in shapes]
    if len(shapes) < least:
        raise ValueError(
            f"{owner}: `inputs` must be a list of at least {least} tensors; received {len(shapes)}."
        )
    first = shapes[0]
    for j, shape in enumerate(shapes):
        same = len(shape) == len(first) and all(
            a is None or b is None or a == b for a, b in zip(shape, first)
        )
        if not same:
            raise ValueError(f"{owner}: {names(j)} must have the shape {first}; received {shape}.")
    return first
