"""Signal preprocessing: readers, resampling, filtering, windows, and a stream that matches the whole record."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hfm_compress.synth.ecg import iter_record_chunks, simulate_record
from hfm_runtime.errors import InputError
from hfm_runtime.preprocess.signal import (
    SignalSpec,
    SignalStream,
    WindowResult,
    bandpass,
    read_signal,
    resample,
    windows,
)

ECG_SPEC = SignalSpec(fs=250, window_seconds=10.0, hop_seconds=5.0, bandpass=(0.5, 40.0))
# Short windows and a shorter filter keep the sample-by-sample stream test fast; the code path is the same.
SMALL_SPEC = SignalSpec(fs=250, window_seconds=4.0, hop_seconds=1.5, bandpass=(0.5, 40.0), filter_taps=401)
# wfdb 4.1 calls a pandas API that pandas deprecates; not ours to fix.
WFDB_WARNINGS = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.drop")


def _stream_all(spec: SignalSpec, fs: float, signal: np.ndarray, chunk: int) -> list[WindowResult]:
    stream = SignalStream(spec, fs)
    results: list[WindowResult] = []
    for start in range(0, len(signal), chunk):
        results += stream.push(signal[start : start + chunk])
    return results + stream.flush()


# --- spec ---------------------------------------------------------------------------------------------------------


def test_spec_resolves_defaults_and_round_trips() -> None:
    spec = SignalSpec(fs=250, window_seconds=10.0, bandpass=(0.5, 40.0))
    assert spec.hop_seconds == 10.0 and spec.window_samples == 2500 and spec.hop_samples == 2500
    assert spec.filter_taps % 2 == 1 and spec.filter_taps >= 3.3 * 250 / 0.5  # pinned, so a manifest records it
    assert spec.to_dict()["type"] == "signal"
    assert SignalSpec.from_dict(spec.to_dict()) == spec
    assert SignalSpec.from_dict({"fs": 125, "window_seconds": 8}).normalisation == "zscore"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fs": 0, "window_seconds": 10}, "fs = 0"),
        ({"fs": 250, "window_seconds": 10.001}, "whole number of samples"),
        ({"fs": 250, "window_seconds": 10, "hop_seconds": -1}, "hop_seconds = -1"),
        ({"fs": 250, "window_seconds": 10, "bandpass": (0.5, 200)}, "0 < low < high < 125"),
        ({"fs": 250, "window_seconds": 10, "bandpass": (0.5, 40), "filter_taps": 400}, "odd whole number"),
        ({"fs": 250, "window_seconds": 10, "filter_taps": 401}, "without a bandpass"),
        ({"fs": 250, "window_seconds": 10, "normalisation": "minmax"}, "normalisation = 'minmax'"),
        ({"fs": 250, "window_seconds": 10, "min_std": -1}, "min_std = -1"),
        ({"fs": 250, "window_seconds": 10, "channels": 0}, "channels = 0"),
    ],
)
def test_spec_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match="expected") as caught:
        SignalSpec(**kwargs)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"fs": 250, "window_seconds": 10, "lowpass": 40}, "unknown keys lowpass"),
        ({"fs": 250}, "lacks window_seconds"),
        ({"type": "text", "fs": 250, "window_seconds": 10}, "type = 'text'"),
    ],
)
def test_spec_from_manifest_refuses_what_it_does_not_know(data: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        SignalSpec.from_dict(data)


# --- resampling and filtering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fs", "target"), [(360, 250), (500, 250), (128, 250), (250, 360), (1000, 250)])
def test_resampling_keeps_a_sine_frequency_amplitude_and_phase(fs: int, target: int) -> None:
    seconds, hz = 8, 7.5
    y = resample(np.sin(2 * np.pi * hz * np.arange(seconds * fs) / fs), fs, target)
    assert len(y) == (seconds * fs - 1) * target // fs + 1  # up to the last input instant, no further
    t = np.arange(len(y)) / target
    inner = slice(target // 2, len(y) - target // 2)  # half a second from the ends: edge extension
    assert np.abs(y[inner] - np.sin(2 * np.pi * hz * t[inner])).max() < 5e-3  # same instants: no delay
    spectrum = np.abs(np.fft.rfft(y[inner] * np.hanning(len(y[inner]))))
    peak_hz = np.fft.rfftfreq(len(y[inner]), 1 / target)[np.argmax(spectrum)]
    assert abs(peak_hz - hz) < 0.2


def test_resampling_removes_what_the_lower_rate_cannot_hold() -> None:
    fs = 500
    t = np.arange(10 * fs) / fs
    y = resample(np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 200 * t), fs, 250)  # 200 Hz would alias to 50
    ref = np.sin(2 * np.pi * 10 * np.arange(len(y)) / 250)
    assert np.abs(y[250:-250] - ref[250:-250]).max() < 5e-3


def test_same_rate_is_left_alone() -> None:
    x = np.random.default_rng(0).standard_normal(1000)
    assert np.array_equal(resample(x, 250, 250), x)


def test_bandpass_is_zero_phase_and_removes_wander_and_mains() -> None:
    fs = 250
    t = np.arange(30 * fs) / fs
    ecg_band = np.sin(2 * np.pi * 5 * t)
    y = bandpass(ecg_band + 2.0 + 1.0 * np.sin(2 * np.pi * 0.1 * t) + 0.5 * np.sin(2 * np.pi * 60 * t), fs, 0.5, 40)
    inner = slice(5 * fs, 25 * fs)  # away from the filter's 3.3 s edges
    assert np.abs(y[inner] - ecg_band[inner]).max() < 0.02  # in-band sine kept in place: no delay, no phase shift


# --- whole records ------------------------------------------------------------------------------------------------


def test_windows_are_cut_per_hop_and_z_scored() -> None:
    x = simulate_record([("normal_sinus", 30.0)], seed=1, fs=360)
    cut = windows(x, 360, ECG_SPEC)
    assert cut.shape == (5, 2500) and cut.dtype == np.float32  # starts 0, 5, ..., 20 s
    assert np.allclose(cut.mean(axis=1), 0, atol=1e-5) and np.allclose(cut.std(axis=1), 1, atol=1e-4)


def test_ten_second_record_gives_one_window() -> None:
    assert windows(simulate_record([("pvc", 10.0)], seed=1), 250, SignalSpec(fs=250, window_seconds=10)).shape \
        == (1, 2500)


def test_multichannel_windows_are_channels_first() -> None:
    x = np.stack([simulate_record([("normal_sinus", 12.0)], seed=s) for s in (1, 2)], axis=1)
    spec = SignalSpec(fs=250, window_seconds=4.0, channels=2, bandpass=(0.5, 40.0), filter_taps=401)
    assert windows(x, 250, spec).shape == (3, 2, 1000)


# --- streaming ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 1000, None])
def test_stream_gives_the_whole_record_windows_for_any_chunk_size(chunk: int | None) -> None:
    fs = 360  # MIT-BIH's rate: the resampler is in the path
    x = simulate_record([("normal_sinus", 8.0), ("atrial_fibrillation", 8.0)], seed=4, fs=fs)
    whole = windows(x, fs, SMALL_SPEC)
    results = _stream_all(SMALL_SPEC, fs, x, chunk or len(x))
    assert [r.quality for r in results] == ["ok"] * len(whole)
    assert [r.start_seconds for r in results] == [1.5 * i for i in range(len(whole))]
    assert np.abs(np.stack([r.data for r in results]) - whole).max() < 1e-5


def test_stream_memory_stays_bounded_over_an_hour() -> None:
    spec, fs = ECG_SPEC, 360
    stream = SignalStream(spec, fs)
    largest = {"resampler": 0, "filter": 0, "window": 0}
    count = 0
    for chunk in iter_record_chunks(1.0, seed=3, fs=fs, chunk_seconds=60.0):
        count += len(stream.push(chunk))
        largest = {k: max(v, stream.buffer_sizes[k]) for k, v in largest.items()}
    count += len(stream.flush())
    assert count == (3600 - 10) // 5 + 1
    taps_per_output = -(-(20 * 36 + 1) // 25)  # 360 -> 250 Hz is up 25, down 36
    assert largest["resampler"] <= taps_per_output
    assert largest["filter"] <= spec.filter_taps - 1
    assert largest["window"] == spec.window_samples


def test_stream_latency_is_half_the_filters() -> None:
    stream = SignalStream(ECG_SPEC, 500)
    assert stream.latency_seconds == pytest.approx((ECG_SPEC.filter_taps - 1) / 2 / 250 + 20 * 2 / 2 / 500)


def test_stream_flags_a_flat_lead_and_recovers() -> None:
    x = simulate_record([("normal_sinus", 24.0)], seed=6)
    x[6 * 250 : 16 * 250] = 0.42  # electrode off for 10 s: the ADC holds one value
    results = _stream_all(SMALL_SPEC, 250, x, 500)
    flat = [r.index for r in results if r.quality == "flat_line"]
    assert flat and all(results[i].data is None for i in flat)
    assert results[0].ok and results[-1].ok  # before and after the gap the lead reads again


def test_stream_flags_windows_reached_by_nan_and_leaves_the_rest_unchanged() -> None:
    fs = 360
    x = simulate_record([("normal_sinus", 30.0)], seed=8, fs=fs)
    clean = _stream_all(SMALL_SPEC, fs, x, 997)
    dirty = x.copy()
    dirty[15 * fs : 15 * fs + 40] = np.nan
    dirty[15 * fs + 50] = np.inf
    results = _stream_all(SMALL_SPEC, fs, dirty, 997)
    flagged = [r.index for r in results if r.quality == "non_finite"]
    reach = (SMALL_SPEC.filter_taps // 2) / 250 + 0.1  # filter half-length plus the resampler's, in seconds
    for r in results:
        overlaps = r.start_seconds - reach < 15.15 and r.start_seconds + 4.0 + reach > 15.0
        assert (r.index in flagged) == overlaps
        if r.ok:
            assert np.abs(r.data - clean[r.index].data).max() < 1e-5
    assert all(results[i].data is None for i in flagged)


def test_stream_ending_before_one_window_says_too_short() -> None:
    stream = SignalStream(ECG_SPEC, 250)
    assert stream.push(np.zeros(1000)) == []
    (result,) = stream.flush()
    assert result.quality == "too_short" and result.data is None
    with pytest.raises(InputError, match="push after flush"):
        stream.push(np.zeros(10))


# --- bad inputs ---------------------------------------------------------------------------------------------------


def _ecg(seconds: float = 12.0, fs: int = 250) -> np.ndarray:
    return simulate_record([("normal_sinus", seconds)], seed=9, fs=fs)


def _with(values: dict) -> np.ndarray:
    x = _ecg()
    for index, value in values.items():
        x[index] = value
    return x


def _flat() -> np.ndarray:
    x = _ecg()
    x[:] = 0.3
    return x


@pytest.mark.parametrize(
    ("signal", "fs", "message"),
    [
        (lambda: _with({100: np.nan}), 250, "1 NaN or infinite samples (first at sample 100)"),
        (lambda: _with({7: np.inf, 9: -np.inf}), 250, "2 NaN or infinite samples (first at sample 7)"),
        (_ecg, None, "sampling rate of the signal is unknown"),
        (_ecg, 0, "fs = 0; expected a positive number"),
        (_ecg, -250, "fs = -250"),
        (_ecg, float("nan"), "fs = nan"),
        (_ecg, "250", "fs = '250'"),
        (_ecg, 2.5e6, "implausible"),
        (_ecg, 50, "too low for this model"),
        (_ecg, 359.97, "simpler ratio"),
        (lambda: _ecg(seconds=8.0), 250, "expected at least one window of 10 s"),
        (_flat, 250, "flat line in window 0"),
        (lambda: np.zeros((3000, 3)), 250, "shape (3000, 3); expected (samples,) or (samples, 1)"),
        (lambda: np.array(["a", "b"]), 250, "holds <U1 values; expected numbers"),
    ],
)
def test_bad_inputs_get_their_own_error(signal, fs, message: str) -> None:
    with pytest.raises(InputError, match="expected") as caught:
        windows(signal(), fs, SignalSpec(fs=250, window_seconds=10.0, bandpass=(0.5, 40.0)))
    assert message in str(caught.value)


# --- readers ------------------------------------------------------------------------------------------------------


@WFDB_WARNINGS
def test_wfdb_round_trip_with_files_written_by_wfdb(tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    fs = 360
    leads = np.stack([simulate_record([("pvc", 5.0)], seed=s, fs=fs) for s in (1, 2)], axis=1).astype(np.float64)
    wfdb.wrsamp("rec100", fs=fs, units=["mV", "mV"], sig_name=["MLII", "V5"], p_signal=leads, fmt=["212", "16"],
                adc_gain=[200.0, 1000.0], baseline=[0, 0], write_dir=str(tmp_path))
    first, rate = read_signal(tmp_path / "rec100.hea")
    assert rate == fs and first.dtype == np.float32
    assert np.abs(first - leads[:, 0]).max() <= 0.5 / 200 + 1e-6  # format 212 at 200 ADC units per mV
    second, _ = read_signal(tmp_path / "rec100", channel="V5")
    assert np.abs(second - leads[:, 1]).max() <= 0.5 / 1000 + 1e-6
    assert np.array_equal(read_signal(tmp_path / "rec100.dat", channel=1)[0], second)


@WFDB_WARNINGS
def test_wfdb_microvolts_come_back_in_millivolts(tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    microvolts = np.round(simulate_record([("normal_sinus", 3.0)], seed=3) * 1000.0)[:, None].astype(np.float64)
    wfdb.wrsamp("uv", fs=250, units=["uV"], sig_name=["ECG"], p_signal=microvolts, fmt=["16"], adc_gain=[1.0],
                baseline=[0], write_dir=str(tmp_path))
    signal, _ = read_signal(tmp_path / "uv.hea")
    assert np.allclose(signal, microvolts[:, 0] / 1000.0, atol=1e-6)


@WFDB_WARNINGS
def test_wfdb_errors_name_the_record_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wfdb = pytest.importorskip("wfdb")
    wfdb.wrsamp("r", fs=250, units=["mV"], sig_name=["II"], p_signal=np.zeros((10, 1)) + 0.5, fmt=["16"],
                adc_gain=[200.0], baseline=[0], write_dir=str(tmp_path))
    with pytest.raises(InputError, match="has no channel 'V1'; expected one of II"):
        read_signal(tmp_path / "r.hea", channel="V1")
    with pytest.raises(InputError, match="channel 3 does not exist"):
        read_signal(tmp_path / "r.hea", channel=3)
    (tmp_path / "r.dat").write_bytes(b"\x00")
    with pytest.raises(InputError, match="cannot be read"):
        read_signal(tmp_path / "r.hea")
    monkeypatch.setitem(sys.modules, "wfdb", None)  # as if the [signals] extra were not installed
    with pytest.raises(InputError, match=r"pip install hfm-compress\[signals\]"):
        read_signal(tmp_path / "r.hea")


def test_csv_round_trip_with_and_without_header(tmp_path: Path) -> None:
    x = simulate_record([("normal_sinus", 2.0)], seed=2)
    t = np.arange(len(x)) / 250
    named = tmp_path / "named.csv"
    named.write_text("time,ecg\n" + "".join(f"{a:.4f},{b:.6f}\n" for a, b in zip(t, x)))
    by_name, rate = read_signal(named, channel="ecg")
    assert rate is None and np.allclose(by_name, x, atol=1e-6)
    assert np.array_equal(read_signal(named, channel=1)[0], by_name)
    bare = tmp_path / "bare.csv"
    bare.write_text("".join(f"{b:.6f}\n" for b in x))
    assert np.allclose(read_signal(bare)[0], x, atol=1e-6)
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("# exported by a patch\nlead_i;lead_ii\n" + "".join(f"0;{b:.6f}\n" for b in x))
    assert np.allclose(read_signal(semicolons, channel="lead_ii")[0], x, atol=1e-6)


def test_csv_errors_say_which_column_or_value(tmp_path: Path) -> None:
    two = tmp_path / "two.csv"
    two.write_text("time,ecg\n0,0.1\n0.004,0.2\n")
    with pytest.raises(InputError, match=r"has 2 columns \(time, ecg\); expected channel="):
        read_signal(two)
    with pytest.raises(InputError, match="has no channel 'ii'"):
        read_signal(two, channel="ii")
    gap = tmp_path / "gap.csv"
    gap.write_text("ecg\n0.1\n\n0.2\nlead off\n")
    with pytest.raises(InputError, match="not a number"):
        read_signal(gap)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="is empty"):
        read_signal(tmp_path / "empty.csv")


def test_npy_round_trip_and_layout_errors(tmp_path: Path) -> None:
    x = simulate_record([("atrial_fibrillation", 2.0)], seed=2)
    np.save(tmp_path / "one.npy", x)
    signal, rate = read_signal(tmp_path / "one.npy")
    assert rate is None and np.array_equal(signal, x)
    np.save(tmp_path / "two.npy", np.stack([x * 0, x], axis=1))
    assert np.array_equal(read_signal(tmp_path / "two.npy", channel=1)[0], x)
    with pytest.raises(InputError, match="expected channel="):
        read_signal(tmp_path / "two.npy")
    np.save(tmp_path / "rows.npy", np.stack([x, x]))
    with pytest.raises(InputError, match="transpose"):
        read_signal(tmp_path / "rows.npy")


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_signal(tmp_path / "nothing.csv")
    (tmp_path / "scan.edf").write_bytes(b"0")
    with pytest.raises(InputError, match="unsupported format"):
        read_signal(tmp_path / "scan.edf")


def test_signal_module_imports_no_torch_scipy_or_wfdb() -> None:
    script = ("import sys, hfm_runtime.preprocess.signal; "
              "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('torch', 'scipy', 'wfdb', 'pandas', 'hfm_compress'))))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
