"""NIfTI outputs keep the source header bit for bit."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from svseg.datasets.nifti_copy import copy_nifti_channel, is_nifti, write_nifti_label

from .makers import noise_image, volume_mask, write_volume


def _geometry(path: Path) -> tuple:
    image = sitk.ReadImage(str(path))
    return image.GetSpacing(), image.GetOrigin(), image.GetDirection()


def test_whole_file_is_copied_and_nii_is_only_compressed(tmp_path: Path) -> None:
    gz = write_volume(tmp_path / "a.nii.gz", noise_image((3, 4, 5), seed=1, dtype=np.int16))
    plain = write_volume(tmp_path / "b.nii", noise_image((3, 4, 5), seed=1, dtype=np.int16))
    copy_nifti_channel(gz, tmp_path / "out_a.nii.gz", None)
    copy_nifti_channel(plain, tmp_path / "out_b.nii.gz", None)
    assert (tmp_path / "out_a.nii.gz").read_bytes() == gz.read_bytes()
    assert gzip.decompress((tmp_path / "out_b.nii.gz").read_bytes()) == plain.read_bytes()
    assert is_nifti(gz) and is_nifti(plain) and not is_nifti(tmp_path / "missing.nii")


def test_channel_of_a_4d_file_keeps_the_spatial_header(tmp_path: Path) -> None:
    parts = [sitk.GetImageFromArray(noise_image((3, 4, 5), seed=s, dtype=np.int16)) for s in range(2)]
    for part in parts:
        part.SetSpacing((0.7, 0.9, 2.2))
        part.SetOrigin((1.5, -2.5, 3.25))
        part.SetDirection((0.8, -0.6, 0.0, 0.6, 0.8, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(sitk.JoinSeries(parts), str(tmp_path / "four.nii.gz"))
    copy_nifti_channel(tmp_path / "four.nii.gz", tmp_path / "c1.nii.gz", 1)
    out = sitk.ReadImage(str(tmp_path / "c1.nii.gz"))
    four = sitk.ReadImage(str(tmp_path / "four.nii.gz"))
    extracted = sitk.Extract(four, [*four.GetSize()[:3], 0], [0, 0, 0, 1])
    assert (out.GetSpacing(), out.GetOrigin(), out.GetDirection()) == (
        extracted.GetSpacing(), extracted.GetOrigin(), extracted.GetDirection())
    assert np.array_equal(sitk.GetArrayFromImage(out), noise_image((3, 4, 5), seed=1, dtype=np.int16))


def test_relabelled_mask_keeps_geometry_and_drops_float_scaling(tmp_path: Path) -> None:
    source = write_volume(tmp_path / "m.nii.gz", volume_mask((3, 6, 6), values=(255,)).astype(np.float32))
    write_nifti_label(source, tmp_path / "out.nii.gz", lambda data: (data > 0).astype(np.uint8))
    assert _geometry(tmp_path / "out.nii.gz") == _geometry(source)
    loaded = nib.load(str(tmp_path / "out.nii.gz"))
    assert loaded.get_data_dtype() == np.uint8 and set(np.unique(np.asarray(loaded.dataobj))) == {0, 1}
