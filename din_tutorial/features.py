"""Feature specifications: what an input is called, how many ids it has, how it is embedded.

Features are specs, models own weights: a feature object never holds a tensor, so two models
built from the same features get independent embedding tables.

Taught in notebooks/02_feature_definitions.ipynb.
"""
from __future__ import annotations

from dataclasses import dataclass

#: The id that marks a padded position in a behaviour sequence. It lies outside every
#: vocabulary (real ids are ``0 .. vocab_size - 1``), so no real item is ever mistaken for
#: padding; the embedding layer maps it to a reserved row and derives the mask from it.
PAD_ID = -1

POOLING_MODES = ("concat", "mean", "sum")


def _check_name(name) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a feature name must be a non-empty string, got {name!r}")
    return name


def _check_vocab(name: str, vocab_size) -> int:
    try:
        v = int(vocab_size)
    except (TypeError, ValueError):
        raise ValueError(f"feature {name!r}: vocab_size must be an integer, got {vocab_size!r}") from None
    if v != vocab_size or v < 1:
        raise ValueError(
            f"feature {name!r}: vocab_size must be a positive integer (the largest id + 1), got {vocab_size!r}; "
            f"compute it as data[{name!r}].max() + 1"
        )
    return v


def _check_dim(name: str, embed_dim) -> int:
    try:
        d = int(embed_dim)
    except (TypeError, ValueError):
        raise ValueError(f"feature {name!r}: embed_dim must be a positive integer, got {embed_dim!r}") from None
    if d != embed_dim or d < 1:
        raise ValueError(f"feature {name!r}: embed_dim must be a positive integer, got {embed_dim!r}")
    return d


@dataclass(eq=False)
class SparseFeature:
    """A categorical input with one id per sample, e.g. ``user_id`` or the target ``item_id``.

    Args:
        name: the input's key in a batch (a column of the data frame).
        vocab_size: number of ids; valid ids are ``0 .. vocab_size - 1`` (use ``column.max() + 1``).
        embed_dim: size of its embedding vector.
        shared_with: name of another feature whose embedding table this one uses.
    """

    name: str
    vocab_size: int
    embed_dim: int = 16
    shared_with: str | None = None

    def __post_init__(self):
        self.name = _check_name(self.name)
        self.vocab_size = _check_vocab(self.name, self.vocab_size)
        self.embed_dim = _check_dim(self.name, self.embed_dim)

    @property
    def table_name(self) -> str:
        """Name of the embedding table this feature looks up: its own, or the one it shares (a model refuses
        chains of ``shared_with``, so this is always the table it reads)."""
        return self.shared_with or self.name


@dataclass(eq=False)
class SequenceFeature:
    """A variable-length list of ids per sample, e.g. a user's behaviour history ``hist_item_id``.

    Sequences are ``(batch, seq_len)`` int64 tensors, oldest behaviour first, padded with
    :data:`PAD_ID`. ``pooling="concat"`` keeps every step (what DIN's activation unit needs);
    ``"mean"`` and ``"sum"`` pool the real steps into one vector.
    ``shared_with`` names the target feature whose table it shares (``"item_id"`` for
    ``"hist_item_id"``), so a behaviour and a candidate live in the same embedding space.
    """

    name: str
    vocab_size: int
    embed_dim: int = 16
    pooling: str = "mean"
    shared_with: str | None = None

    def __post_init__(self):
        self.name = _check_name(self.name)
        self.vocab_size = _check_vocab(self.name, self.vocab_size)
        self.embed_dim = _check_dim(self.name, self.embed_dim)
        if self.pooling not in POOLING_MODES:
            raise ValueError(
                f"feature {self.name!r}: pooling must be one of {POOLING_MODES}, got {self.pooling!r}"
            )

    @property
    def table_name(self) -> str:
        """Name of the embedding table this feature looks up: its own, or the one it shares (a model refuses
        chains of ``shared_with``, so this is always the table it reads)."""
        return self.shared_with or self.name


@dataclass(eq=False)
class DenseFeature:
    """A real-valued input with one float per sample (e.g. a price); fed to the MLP as it is."""

    name: str
    embed_dim: int = 1

    def __post_init__(self):
        self.name = _check_name(self.name)
        self.embed_dim = _check_dim(self.name, self.embed_dim)


Feature = SparseFeature | SequenceFeature | DenseFeature
