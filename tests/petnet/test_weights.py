"""The torch-free reader of the legacy ``torch.save`` weights file, and its refusal to run pickled code."""

from __future__ import annotations

import os
import pickle
import pickletools
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from petnet.backbone import default_weights_path
from petnet.torch_weights import LEGACY_MAGIC, LEGACY_PROTOCOL, UnsafeWeightsError, load_state_dict

# --- a hand-written legacy torch file (no torch needed) -------------------------------------------
# Layout: magic pickle, protocol pickle, sys-info pickle, the state-dict pickle (tensors point at
# storages through persistent ids), the pickled list of storage keys, then each storage as an int64
# element count followed by its raw little-endian bytes.


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)  # BININT


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()  # GLOBAL


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def _tensor(
    key: str, storage_type: str, numel: int, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> bytes:
    """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks)."""
    persistent_id = (
        _tuple([_str("storage"), _global("torch", storage_type), _str(key), _str("cpu"), _int(numel), b"N"]) + b"Q"
    )
    args = _tuple(
        [
            persistent_id,
            _int(offset),
            _tuple([_int(s) for s in size]),
            _tuple([_int(s) for s in stride]),
            b"\x89",  # NEWFALSE: requires_grad
            _global("collections", "OrderedDict") + b")R",
        ]
    )
    return _global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _header(magic: int = LEGACY_MAGIC) -> bytes:
    sizes = {"short": 2, "int": 4, "long": 4}
    sys_info = {"protocol_version": LEGACY_PROTOCOL, "little_endian": True, "type_sizes": sizes}
    return pickle.dumps(magic, 2) + pickle.dumps(LEGACY_PROTOCOL, 2) + pickle.dumps(sys_info, 2)


def _state_dict_pickle(entries: list[tuple[str, bytes]]) -> bytes:
    items = b"".join(_str(name) + tensor for name, tensor in entries)
    return b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + items + b"u."


def _legacy_file(
    entries: list[tuple[str, bytes]], storages: list[tuple[str, np.ndarray]], magic: int = LEGACY_MAGIC
) -> bytes:
    out = _header(magic) + _state_dict_pickle(entries) + pickle.dumps([key for key, _ in storages], 2)
    for _, array in storages:
        out += struct.pack("<q", array.size) + array.tobytes()
    return out


def _small_file() -> bytes:
    """Three tensors: a transposed view and an offset slice sharing one float storage, and a counter."""
    return _legacy_file(
        [
            ("conv.weight", _tensor("0", "FloatStorage", 12, 0, (3, 2), (1, 3))),
            ("conv.bias", _tensor("0", "FloatStorage", 12, 6, (2,), (1,))),
            ("bn.num_batches_tracked", _tensor("1", "LongStorage", 1, 0, (), ())),
        ],
        [("0", np.arange(12, dtype="<f4")), ("1", np.array([7], dtype="<i8"))],
    )


class _ShellPayload:
    """Unpickling this runs a shell command (os.system), as a malicious weights file would."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


class _EvalPayload:
    """Unpickling this evaluates Python code (builtins.eval)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, (self.code,))


def _touch_code(path: Path) -> str:
    return f"open({str(path)!r}, 'w').close()"


# --- the real file ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_weights() -> dict[str, np.ndarray]:
    return load_state_dict(default_weights_path())


def test_real_file_keys_without_batch_counters(real_weights: dict[str, np.ndarray]) -> None:
    everything = load_state_dict(default_weights_path(), skip_suffixes=())
    counters = [key for key in everything if key.endswith("num_batches_tracked")]
    assert len(everything) == 296
    assert len(counters) == 49  # one per batch norm
    assert len(real_weights) == 296 - 49
    assert not any(key.endswith("num_batches_tracked") for key in real_weights)
    assert all(everything[key].dtype == np.int64 and everything[key].size == 1 for key in counters)


def test_real_file_shapes_and_dtypes(real_weights: dict[str, np.ndarray]) -> None:
    expected = {
        "_conv_stem.weight": (32, 3, 3, 3),
        "_bn0.running_var": (32,),
        "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3),
        "_blocks.15._project_conv.weight": (320, 1152, 1, 1),
        "_conv_head.weight": (1280, 320, 1, 1),
        "_bn1.weight": (1280,),
        "_fc.weight": (1000, 1280),
        "_fc.bias": (1000,),
    }
    for key, shape in expected.items():
        assert real_weights[key].shape == shape, key
    for key, value in real_weights.items():
        assert value.dtype == np.float32, key
        assert value.flags.c_contiguous, key
        assert np.all(np.isfinite(value)), key
    variances = [value for key, value in real_weights.items() if key.endswith("running_var")]
    assert len(variances) == 49
    assert all(np.all(v >= 0) for v in variances)  # some channels are dead (variance exactly 0)
    assert float(np.std(real_weights["_fc.weight"])) > 1e-3  # real numbers, not zeros


def test_real_file_matches_torch_load() -> None:
    torch = pytest.importorskip("torch", reason="torch (dev-only reference) is not installed")
    reference = torch.load(default_weights_path(), map_location="cpu", weights_only=True)
    ours = load_state_dict(default_weights_path())
    assert list(ours) == [key for key in reference if not key.endswith("num_batches_tracked")]
    for key, array in ours.items():
        assert array.shape == tuple(reference[key].shape), key
        np.testing.assert_array_equal(array, reference[key].numpy(), err_msg=key)


# --- crafted files ---------------------------------------------------------------------------------


def test_crafted_file_views_offsets_and_strides(tmp_path: Path) -> None:
    path = tmp_path / "small.pth"
    path.write_bytes(_small_file())
    tensors = load_state_dict(path, skip_suffixes=())
    np.testing.assert_array_equal(tensors["conv.weight"], np.array([[0, 3], [1, 4], [2, 5]], np.float32))
    np.testing.assert_array_equal(tensors["conv.bias"], np.array([6, 7], np.float32))
    assert tensors["bn.num_batches_tracked"].dtype == np.int64
    assert tensors["bn.num_batches_tracked"].reshape(-1).tolist() == [7]
    assert "bn.num_batches_tracked" not in load_state_dict(path)


def test_zero_dimensional_tensor_keeps_its_shape(tmp_path: Path) -> None:
    path = tmp_path / "small.pth"
    path.write_bytes(_small_file())
    assert load_state_dict(path, skip_suffixes=())["bn.num_batches_tracked"].shape == ()


def test_crafted_file_is_what_torch_reads(tmp_path: Path) -> None:
    """Proves the hand-written format above is the real one, so the refusal tests below mean something."""
    torch = pytest.importorskip("torch", reason="torch (dev-only reference) is not installed")
    path = tmp_path / "small.pth"
    path.write_bytes(_small_file())
    reference = torch.load(path, weights_only=True)
    ours = load_state_dict(path, skip_suffixes=())
    assert list(ours) == list(reference)
    for key, tensor in reference.items():
        np.testing.assert_array_equal(ours[key].reshape(tensor.shape), tensor.numpy(), err_msg=key)


def test_payloads_are_live_under_plain_pickle(tmp_path: Path) -> None:
    """Control: the payloads really run code when unpickled naively."""
    shell_sentinel, eval_sentinel = tmp_path / "shell", tmp_path / "eval"
    pickle.loads(pickle.dumps(_ShellPayload(f"touch '{shell_sentinel}'"), 2))
    pickle.loads(pickle.dumps(_EvalPayload(_touch_code(eval_sentinel)), 2))
    assert shell_sentinel.exists()
    assert eval_sentinel.exists()


@pytest.mark.parametrize("where", ["state_dict", "header", "storage_keys", "inside_a_dict"])
@pytest.mark.parametrize("payload", ["os.system", "builtins.eval"])
def test_malicious_globals_are_refused_and_never_run(tmp_path: Path, where: str, payload: str) -> None:
    sentinel = tmp_path / "pwned"
    evil: object = (
        _ShellPayload(f"touch '{sentinel}'") if payload == "os.system" else _EvalPayload(_touch_code(sentinel))
    )
    good = _small_file()
    header = _header()
    body = good[len(header) :]
    if where == "state_dict":
        data = header + pickle.dumps(evil, 2)
    elif where == "header":
        data = pickle.dumps(LEGACY_MAGIC, 2) + pickle.dumps(LEGACY_PROTOCOL, 2) + pickle.dumps(evil, 2) + body
    elif where == "storage_keys":
        data = header + _state_dict_pickle([]) + pickle.dumps(evil, 2)
    else:
        data = header + pickle.dumps({"weight": evil}, 2)
    path = tmp_path / "evil.pth"
    path.write_bytes(data)
    with pytest.raises(UnsafeWeightsError, match="refusing to load global"):
        load_state_dict(path)
    assert not sentinel.exists()


def test_unexpected_persistent_id_is_refused(tmp_path: Path) -> None:
    entry = _str("w") + _str("not-a-storage") + b"Q"  # BINPERSID with a plain string id
    body = b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + entry + b"u."
    path = tmp_path / "pid.pth"
    path.write_bytes(_header() + body)
    with pytest.raises(UnsafeWeightsError, match="persistent id"):
        load_state_dict(path)


def test_entry_that_is_not_a_tensor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "int.pth"
    path.write_bytes(_header() + pickle.dumps({"w": 3}, 2) + pickle.dumps([], 2))
    with pytest.raises(UnsafeWeightsError, match="not a tensor"):
        load_state_dict(path)


def test_bad_magic_number_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "magic.pth"
    path.write_bytes(_legacy_file([], [], magic=LEGACY_MAGIC + 1))
    with pytest.raises(ValueError, match="bad magic number"):
        load_state_dict(path)


def test_zip_format_file_is_refused_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "new_format.pth"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises((ValueError, EOFError, pickle.UnpicklingError)):
        load_state_dict(path)


CLEAN_ERRORS = (ValueError, EOFError, pickle.UnpicklingError)


def _truncation_points() -> dict[str, int]:
    """Interesting cut points of the real file, found by walking its pickles' opcodes (nothing is executed)."""
    path = default_weights_path()
    ends = []
    with open(path, "rb") as file:
        for _ in range(5):  # magic, protocol, sys info, state dict, storage keys
            for _ in pickletools.genops(file):
                pass
            ends.append(file.tell())
    header_end, state_dict_end, keys_end = ends[2], ends[3], ends[4]
    return {
        "empty": 0,
        "inside_magic": 5,
        "after_header": header_end,
        "inside_state_dict": header_end + 1000,
        "inside_storage_keys": state_dict_end + 10,
        "inside_first_storage": keys_end + 8 + 100,
        "last_byte_missing": path.stat().st_size - 1,
    }


@pytest.mark.parametrize("cut", list(_truncation_points()))
def test_truncated_file_raises_cleanly(tmp_path: Path, cut: str) -> None:
    size = _truncation_points()[cut]
    path = tmp_path / "cut.pth"
    with open(default_weights_path(), "rb") as file:
        path.write_bytes(file.read(size))
    with pytest.raises(CLEAN_ERRORS):
        load_state_dict(path)


@pytest.mark.parametrize("count_bytes_kept", [0, 4])
def test_truncated_at_a_storage_count_raises_cleanly(tmp_path: Path, count_bytes_kept: int) -> None:
    """Cut right after the storage-key list (all data lost) or inside the first storage's element count."""
    size = _truncation_points()["inside_first_storage"] - 100 - 8 + count_bytes_kept
    path = tmp_path / "cut.pth"
    with open(default_weights_path(), "rb") as file:
        path.write_bytes(file.read(size))
    with pytest.raises(CLEAN_ERRORS):
        load_state_dict(path)


def test_tensor_larger_than_its_storage_is_refused(tmp_path: Path) -> None:
    """Run in a child process: the unchecked read may segfault."""
    path = tmp_path / "overread.pth"
    path.write_bytes(
        _legacy_file(
            [("w", _tensor("0", "FloatStorage", 2, 0, (1_000_000,), (1,)))],
            [("0", np.zeros(2, "<f4"))],
        )
    )
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from petnet.torch_weights import load_state_dict
        try:
            tensors = load_state_dict(Path({str(path)!r}))
        except Exception as exc:
            print("refused", type(exc).__name__)
        else:
            print("returned", tensors["w"].shape)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, f"the reader crashed the process: {child.returncode} {child.stderr[-500:]}"
    assert child.stdout.startswith("refused"), child.stdout
