"""KerasHub's own `call`, compiled with its residual additions through LAuReL."""

import functools

from keras_laurel import internals


def compiled_call(base, additions):
    """`base.call` with `additions` routed through LAuReL
    (`keras_laurel.internals.residual_call`). Where this KerasHub version's
    code differs from the description, the returned `call` (with the same
    signature) and `check` raise the `InternalsError` naming the difference,
    so only the layers that use it fail, and clearly.

    Returns `(call, check)`; the layer's `__init__` calls `check()`.
    """
    try:
        call = internals.residual_call(base, additions)
    except internals.InternalsError as error:
        failure = error

        @functools.wraps(base.call)
        def call(self, *args, **kwargs):
            raise failure

        def check():
            raise failure

        return call, check
    return call, lambda: None
