"""pacelib: self-supervised video representation learning by pace prediction.

The library behind the course: pace sampling (`pace`), decoding (`video`), datasets,
augmentation (`transforms`), a synthetic motion dataset (`synthetic`), backbones
(`models`), the losses (`losses`), training and evaluation, and attention maps.
"""

__version__ = "0.1.0"
