"""Reading signal inputs: one channel of a WFDB record, CSV or NPY file, as float32 samples and the rate the file
records (None for CSV and NPY, which record none).

`wfdb` (an optional extra that pulls pandas and scipy) is imported only inside the WFDB reader.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np

from hfm_runtime.errors import InputError

WFDB_FS = re.compile(r"(\d+\.?\d*|\.\d+)(/.*)?")  # a header's rate field: fs[/counter_fs[(base_counter)]]
MV_PER_UNIT = {"mV": 1.0, "uV": 1e-3, "µV": 1e-3, "μV": 1e-3, "V": 1e3}  # WFDB voltage units, returned in mV


def read_signal(path: str | Path, channel: int | str | None = None) -> tuple[np.ndarray, float | None]:
    """Read one channel of a WFDB record, CSV or NPY file: (samples float32, fs in Hz or None when the file has none).

    WFDB: `path` is the `.hea` header, the `.dat` file or the record name without extension; voltages come back in
    mV; `channel` (index or signal name) defaults to the first signal, a record's primary lead by convention.
    CSV (optional header row; comma, semicolon, tab or space separated) and NPY ((samples,) or (samples, channels)):
    `channel` (index, or column name for CSV) is required when there is more than one column, since the first is
    often a time column. CSV and NPY carry no rate, so fs is None: the caller passes it (the CLI's --fs).
    A WFDB header that writes no rate also gives fs None (wfdb itself would assume 250 Hz); one that writes a rate
    that is not a positive number (0, -360, abc) is refused.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return _read_npy(_existing(p), channel), None
    if suffix in (".csv", ".tsv", ".txt"):
        return _read_csv(_existing(p), channel), None
    header = wfdb_header(p)
    if header is not None:
        return _read_wfdb(header, channel)
    _existing(p)
    raise InputError(f"signal file {p} has an unsupported format; expected a WFDB record (.hea), .csv or .npy")


def wfdb_header(path: str | Path) -> Path | None:
    """The `.hea` file of the WFDB record that `path` names (its header, its .dat file or the record name without
    extension), or None when `path` is a CSV/NPY file or no such header exists."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".npy", ".csv", ".tsv", ".txt"):
        return None
    header = Path(f"{p.with_suffix('') if suffix in ('.hea', '.dat') else p}.hea")
    try:
        return header if header.is_file() else None
    except (OSError, ValueError):  # a name the file system cannot take
        return None


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise InputError(f"signal file {path} not found; expected an existing .hea, .csv or .npy file")
    return path


def _read_wfdb(header_path: Path, channel: int | str | None) -> tuple[np.ndarray, float | None]:
    record = header_path.with_suffix("")
    try:
        import wfdb  # optional extra, and heavy: pandas, scipy, matplotlib
    except ImportError:
        raise InputError(f"{record}: reading WFDB records needs the wfdb package: pip install "
                         "hfm-compress[signals]") from None
    fs = _header_fs(header_path)
    try:
        header = wfdb.rdheader(str(record))
        index = _channel_index(channel, list(header.sig_name), header.n_sig, f"WFDB record {record}", default=0)
        data = wfdb.rdrecord(str(record), channels=[index], physical=True)
    except InputError:
        raise
    except Exception as exc:  # wfdb raises a mix of ValueError, OSError and others for damaged records
        raise InputError(f"WFDB record {record} cannot be read ({exc}); expected a valid header and signal "
                         "file") from None
    samples = data.p_signal[:, 0].astype(np.float64) * MV_PER_UNIT.get(str(data.units[0]).strip(), 1.0)
    return _to_float32(samples, f"WFDB record {record}"), fs


def _header_fs(header: Path) -> float | None:
    """The rate a WFDB header's record line writes, or None when it writes none.

    Read from the text because wfdb fills in 250 Hz for a missing rate (and for one it cannot parse, such as a
    negative one), so its `fs` cannot tell a record at 250 Hz from one whose rate is unknown.
    """
    try:
        text = header.read_bytes().decode("latin-1")
    except OSError as exc:
        raise InputError(f"WFDB header {header} cannot be read ({exc}); expected a readable header file") from None
    line = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    fields = line.split()
    if len(fields) < 2:
        raise InputError(f"WFDB header {header} has no record line; expected 'name n_signals fs n_samples' first")
    if len(fields) < 3:
        return None
    match = WFDB_FS.fullmatch(fields[2])
    if match is None or float(match.group(1)) <= 0:
        raise InputError(f"WFDB header {header} gives sampling rate {fields[2]!r}; expected a positive number of Hz "
                         "(the third field of its first line)")
    return float(match.group(1))


def _read_csv(path: Path, channel: int | str | None) -> np.ndarray:
    try:
        return _parse_csv(path, channel)
    except UnicodeDecodeError as exc:
        raise InputError(f"CSV file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); expected numbers as "
                         "UTF-8 text") from None


def _parse_csv(path: Path, channel: int | str | None) -> np.ndarray:
    with open(path, encoding="utf-8-sig") as handle:
        first = next((line for line in handle if line.strip() and not line.startswith("#")), "")
    if not first:
        raise InputError(f"CSV file {path} is empty; expected one sample per row")
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    fields = [field.strip().strip('"') for field in first.split(delimiter)]
    header = not all(_parses(field) for field in fields)
    index = _channel_index(channel, fields if header else None, len(fields), f"CSV file {path}", default=None)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")  # refused below
            values = np.loadtxt(path, delimiter=delimiter, skiprows=_header_row(path) + 1 if header else 0,
                                usecols=index, dtype=np.float64, ndmin=1, comments="#", encoding="utf-8-sig")
    except ValueError as exc:
        raise InputError(f"CSV file {path} has a value that is not a number ({' '.join(str(exc).split())}); "
                         f"expected numbers in column {fields[index] if header else index}") from None
    if values.size == 0:
        raise InputError(f"CSV file {path} has a header row but no samples; expected one sample per row")
    return _to_float32(values, f"CSV file {path}")


def _header_row(path: Path) -> int:
    """Index of the header line: the first line that is neither blank nor a comment."""
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle):
            if line.strip() and not line.startswith("#"):
                return number
    return 0


def _read_npy(path: Path, channel: int | str | None) -> np.ndarray:
    """The header is checked against the file's size first, so a header that claims more data than the file holds
    is refused instead of allocated; the data is memory-mapped and only the channel asked for is copied."""
    shape, dtype = _npy_header(path)
    if dtype.kind not in "iuf":
        raise InputError(f"NPY file {path} holds {dtype} values; expected numbers")
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] > shape[0]):
        raise InputError(f"NPY file {path} has shape {shape}; expected (samples,) or (samples, channels) "
                         "(transpose a channels-first array)")
    index = _channel_index(channel, None, 1 if len(shape) == 1 else shape[1], f"NPY file {path}",
                           default=0 if len(shape) == 1 else None)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"NPY file {path} cannot be read ({' '.join(str(exc).split())}); expected a numeric .npy "
                         "array") from None
    return _to_float32(np.asarray(array if array.ndim == 1 else array[:, index]), f"NPY file {path}")


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an .npy header, refused unless the file holds all the data the header describes."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in readers:
                raise ValueError(f"format version {version[0]}.{version[1]}, which holds no plain numbers")
            shape, _, dtype = readers[version](handle)
            data_bytes = path.stat().st_size - handle.tell()
    except Exception as exc:  # numpy's header parser raises ValueError, SyntaxError, tokenize.TokenError ...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"NPY file {path} cannot be read ({reason}); expected a numeric .npy array") from None
    needed = math.prod(shape) * dtype.itemsize
    if data_bytes < needed:
        raise InputError(f"NPY file {path} is cut short: its header describes {shape} {dtype} values ({needed:,} "
                         f"bytes) and it holds {data_bytes:,} bytes; expected a complete .npy file")
    return tuple(shape), dtype


def _to_float32(values: np.ndarray, where: str) -> np.ndarray:
    """Samples as float32, refusing finite values that float32 cannot hold (they would turn into infinities)."""
    beyond = np.isfinite(values) & (np.abs(values) > np.finfo(np.float32).max) if values.dtype.kind == "f" else None
    if beyond is not None and beyond.any():
        first = int(np.argmax(beyond))
        raise InputError(f"{where} has {int(beyond.sum())} values beyond the float32 range (first at sample {first}: "
                         f"{float(values[first]):g}); expected samples in physical units or ADC counts")
    return values.astype(np.float32)


def _channel_index(channel: int | str | None, names: list[str] | None, count: int, where: str,
                   default: int | None) -> int:
    listing = f"({', '.join(names)})" if names else f"(0 to {count - 1})"
    if channel is None:
        if count == 1 or default is not None:
            return default or 0
        raise InputError(f"{where} has {count} columns {listing}; expected channel= (the CLI's --channel) to say "
                         "which one, by index or name")
    if isinstance(channel, str) and not channel.lstrip("-").isdigit():
        if names is None:
            raise InputError(f"{where} has no channel names, so channel {channel!r} cannot be found; expected an "
                             f"index from 0 to {count - 1}")
        if channel not in names:
            raise InputError(f"{where} has no channel {channel!r}; expected one of {', '.join(names)}")
        return names.index(channel)
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer, str)) or not 0 <= int(channel) < count:
        raise InputError(f"{where}: channel {channel!r} does not exist; expected an index from 0 to {count - 1} "
                         f"{listing}")
    return int(channel)


def _parses(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
