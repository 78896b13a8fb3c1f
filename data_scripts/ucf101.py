"""UCF101: 13,320 YouTube clips of 101 human actions (Soomro, Zamir & Shah, 2012).

    python -m data_scripts.ucf101 download     # UCF101.rar (~6.5 GB) + the official split lists
    python -m data_scripts.ucf101 extract      # -> data/ucf101/<Class>/v_*.avi + data/ucf101/ucfTrainTestlist/
    python -m data_scripts.ucf101 preprocess   # optional: -> data/ucf101_128/, short side 128
    python -m data_scripts.ucf101 verify       # every video in the 3 splits exists and decodes
    python -m data_scripts.ucf101 --help

The layout on disk is the one ``pacelib.datasets.ucf101_split`` reads. Extracting the .rar needs
``unar`` (``apt-get install unar``). The generic steps live in ``datatools.py``.
"""

from __future__ import annotations

import sys

from data_scripts.datatools import DatasetSpec, RemoteFile, main
from pacelib.datasets import ucf101_split

# SHA-256 of the official files as recorded by torchvision's (since removed) prototype datasets,
# pytorch/vision torchvision/prototype/datasets/_builtin/ucf101.py. We could not download the
# files to confirm them here; if the server's files change, `download` says so (expected vs
# actual) and --checksums lets you supply new values.
UCF101 = DatasetSpec(
    name="ucf101",
    base_url="https://www.crcv.ucf.edu/data/UCF101",
    videos=RemoteFile("UCF101.rar", "ca8dfadb4c891cb11316f94d52b6b0ac2a11994e67a0cae227180cd160bd8e55"),
    splits=RemoteFile(
        "UCF101TrainTestSplits-RecognitionTask.zip",
        "5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27",
    ),
    split_dir="ucfTrainTestlist",  # classInd.txt, trainlist01-03.txt, testlist01-03.txt
    list_split=ucf101_split,
    video_top="UCF-101",  # UCF101.rar holds UCF-101/<Class>/v_<Class>_gXX_cYY.avi
)

if __name__ == "__main__":
    sys.exit(main(UCF101))
