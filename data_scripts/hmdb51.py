"""HMDB51: 6,766 clips of 51 human actions, mostly from movies (Kuehne et al., ICCV 2011).

    python -m data_scripts.hmdb51 download     # hmdb51_org.rar (~2 GB) + test_train_splits.rar
    python -m data_scripts.hmdb51 extract      # -> data/hmdb51/<class>/*.avi + data/hmdb51/testTrainMulti_7030_splits/
    python -m data_scripts.hmdb51 preprocess   # optional: -> data/hmdb51_128/, short side 128
    python -m data_scripts.hmdb51 verify       # every video in the 3 splits exists and decodes
    python -m data_scripts.hmdb51 --help

hmdb51_org.rar is a .rar of 51 per-class .rar files; ``extract`` checks and unpacks both levels
(with ``unar``: ``apt-get install unar``). The layout is the one ``pacelib.datasets.hmdb51_split``
reads. The generic steps live in ``datatools.py``.
"""

from __future__ import annotations

import sys

from data_scripts.datatools import DatasetSpec, RemoteFile, main
from pacelib.datasets import hmdb51_split

# SHA-256 of the official files as recorded by torchvision's (since removed) prototype datasets,
# pytorch/vision torchvision/prototype/datasets/_builtin/hmdb51.py. torchvision.datasets.HMDB51
# records the MD5 of the split archive, 15e67781e70dcfbdce2d7dbb9b3344b5. We could not download
# the files to confirm them here; --checksums lets you supply new values.
HMDB51 = DatasetSpec(
    name="hmdb51",
    base_url="https://serre-lab.clps.brown.edu/wp-content/uploads/2013/10",
    videos=RemoteFile("hmdb51_org.rar", "9e714a0d8b76104d76e932764a7ca636f929fff66279cda3f2e326fa912a328e"),
    splits=RemoteFile(
        "test_train_splits.rar", "229c94f845720d01eb3946d39f39292ea962d50a18136484aa47c1eba251d2b7"
    ),
    split_dir="testTrainMulti_7030_splits",  # <class>_test_split{1,2,3}.txt: "<video> 1|2|0" per line
    list_split=hmdb51_split,
    nested=True,  # hmdb51_org.rar holds <class>.rar, each holding <class>/<video>.avi
)

if __name__ == "__main__":
    sys.exit(main(HMDB51))
