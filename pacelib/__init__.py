"""pacelib: self-supervised video representation learning by pace prediction.

The library behind the course: pace sampling (`pace`), decoding (`video`), datasets,
augmentation (`transforms`), a synthetic motion dataset (`synthetic`), backbones
(`models`), the losses (`losses`), training and evaluation, attention maps, and pictures
(`viz`; `explorers`, which also work on the static book page).
"""

__version__ = "0.1.0"
