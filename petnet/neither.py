"""Is it a cat or dog at all? The pretrained ImageNet head's probability mass on cats and dogs.

EfficientNet-Lite0's own 1000-class head knows 118 dog breeds and 5 domestic cats. When it puts
almost no probability on any of them, the photo is most likely neither, and the MLP (which only
knows "gato" vs "cachorro") should not guess. The threshold is fitted by the trainer on validation
pets and stored in the model card (see bench/neither_choice.py for the measurements behind it).
"""

from __future__ import annotations

import numpy as np

DOG_CLASSES = np.arange(151, 269)  # ImageNet 151 Chihuahua ... 268 Mexican hairless
CAT_CLASSES = np.arange(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
PET_CLASSES = np.concatenate([DOG_CLASSES, CAT_CLASSES])
VAL_REJECT_RATE = 0.005  # the share of validation pets the fitted threshold may call "nenhum"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def pet_mass(imagenet_logits: np.ndarray) -> np.ndarray:
    """Probability the ImageNet head gives to all cat and dog classes together, per photo."""
    return softmax(imagenet_logits)[..., PET_CLASSES].sum(axis=-1)


def top_class(imagenet_logits: np.ndarray) -> tuple[int, float]:
    """The ImageNet class the pretrained head likes best for one photo, and its probability."""
    p = softmax(imagenet_logits)
    index = int(np.argmax(p))
    return index, float(p[index])


def fit_threshold(val_pet_mass: np.ndarray, reject_rate: float = VAL_REJECT_RATE) -> float:
    """The mass below which a photo is "nenhum": the ``reject_rate`` quantile of validation pets."""
    if len(val_pet_mass) == 0:
        return 0.0
    return float(np.quantile(np.asarray(val_pet_mass, np.float64), reject_rate))
