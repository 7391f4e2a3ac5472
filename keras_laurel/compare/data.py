"""Data for the comparison tasks, through `tensorflow_datasets`.

`tfds.load` downloads a dataset on a machine with internet access and reads
prepared data offline from `data_dir` (or `TFDS_DATA_DIR`).
"""

import os

import numpy as np


class DatasetUnavailableError(RuntimeError):
    """A dataset is neither prepared in `data_dir` nor downloadable."""


def _online(host="storage.googleapis.com", timeout=3.0):
    """Whether a download could start (name resolution works)."""
    import socket

    previous = socket.getdefaulttimeout()
    try:
        socket.setdefaulttimeout(timeout)
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False
    finally:
        socket.setdefaulttimeout(previous)


def ensure_available(name, data_dir=None):
    """Raises `DatasetUnavailableError` at once when `name` is neither
    prepared in `data_dir` nor downloadable (offline), instead of letting
    TFDS retry its download for minutes."""
    import tensorflow_datasets as tfds

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
    try:
        if tfds.builder(name, data_dir=data_dir).is_prepared() or _online():
            return
        reason = "this machine is offline"
    except Exception as error:  # an unknown name, an unreadable folder
        reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    raise _unavailable(name, data_dir, reason)


def _unavailable(name, data_dir, reason):
    where = data_dir or "~/tensorflow_datasets (the TFDS default)"
    return DatasetUnavailableError(
        f"The TFDS dataset '{name}' is not prepared in {where} and could not be "
        f"downloaded ({reason}).\n"
        f"Provide it in one of these ways:\n"
        f'  * on a machine with internet: python -c "import tensorflow_datasets as '
        f"tfds; tfds.load('{name}', data_dir='DIR')\" and copy DIR here;\n"
        f"  * point --data-dir (or TFDS_DATA_DIR) at a folder that holds "
        f"{name}/<version>/ prepared by TFDS."
    )


def _load(name, split, data_dir, **kwargs):
    import tensorflow_datasets as tfds

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")
    ensure_available(name, data_dir)
    try:
        return tfds.load(name, split=split, data_dir=data_dir, **kwargs)
    except Exception as error:  # tfds raises several types when a download fails
        raise _unavailable(
            name, data_dir, f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        ) from None


def shakespeare(seq_len, data_dir=None):
    """Character-level Tiny Shakespeare: `(train_ids, val_ids, vocabulary)`."""
    import tensorflow_datasets as tfds

    texts = {}
    for split in ("train", "validation"):
        ds = _load("tiny_shakespeare", split, data_dir)
        texts[split] = next(iter(tfds.as_numpy(ds)))["text"].decode("utf-8")
    vocabulary = sorted(set(texts["train"]) | set(texts["validation"]))
    index = {c: i for i, c in enumerate(vocabulary)}

    def windows(text):
        ids = np.array([index[c] for c in text], "int32")
        count = (len(ids) - 1) // seq_len
        return ids[: count * seq_len + 1], count

    return windows(texts["train"]), windows(texts["validation"]), vocabulary


def lm_batches(ids_and_count, seq_len, batch_size, steps, seed):
    """`steps` random batches `(x, y)` of next-character prediction."""
    ids, count = ids_and_count
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - seq_len - 1, size=(steps, batch_size))
    tokens = ids[starts[..., None] + np.arange(seq_len + 1)]
    x = {
        "token_ids": tokens[..., :-1].reshape(-1, seq_len),
        "padding_mask": np.ones((steps * batch_size, seq_len), "int32"),
    }
    return x, tokens[..., 1:].reshape(-1, seq_len)


def images(name, image_size, data_dir=None, train_examples=None, test_examples=None):
    """`(x_train, y_train, x_test, y_test, num_classes)` as float32 in [0, 1]."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    splits = {}
    for split, limit in (("train", train_examples), ("test", test_examples)):
        spec = split if limit is None else f"{split}[:{limit}]"
        ds, info = _load(name, spec, data_dir, as_supervised=True, with_info=True)
        ds = ds.map(
            lambda x, y: (
                tf.image.resize(tf.cast(x, "float32") / 255.0, (image_size, image_size)),
                y,
            )
        )
        xs, ys = [], []
        for x, y in tfds.as_numpy(ds.batch(1024)):
            xs.append(x)
            ys.append(y)
        splits[split] = (np.concatenate(xs), np.concatenate(ys).astype("int32"))
    num_classes = info.features["label"].num_classes
    return (*splits["train"], *splits["test"], num_classes)
