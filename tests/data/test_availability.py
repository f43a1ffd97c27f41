import pytest

from lmle_core.data import DATASET_NAMES, check_dataset
from lmle_core.data.availability import check_all


def test_empty_root_everything_missing(tmp_path):
    for name in DATASET_NAMES:
        st = check_dataset(name, tmp_path)
        assert not st.available and not st
        assert st.download_command == f"python -m lmle_core.data.download {name} --root {tmp_path}"
        assert st.download_command in st.message
    assert check_dataset("mnist_rot_back_image", tmp_path).can_regenerate is False


def test_present_datasets(tmp_path, build):
    build.celeba(tmp_path, present=[0], gz=True)
    build.bsds(tmp_path, n_per_split=(1, 1, 1))
    build.mnist(tmp_path, n_train=3, n_test=2)
    st = check_all(tmp_path)
    assert st["celeba"].available and st["bsds500"].available and st["mnist"].available
    rb = st["mnist_rot_back_image"]
    assert not rb.available and rb.can_regenerate
    for name in ("train_valid", "test"):
        p = tmp_path / "mnist_rotation_back_image" / f"mnist_all_background_images_rotation_normalized_{name}.amat"
        p.parent.mkdir(exist_ok=True)
        p.write_text("0\n")
    assert check_dataset("mnist_rot_back_image", tmp_path).available


def test_partial_celeba_without_images(tmp_path, build):
    build.celeba(tmp_path, present=[])
    st = check_dataset("celeba", tmp_path)
    assert not st.available and "jpg" in st.message


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as ei:
        check_dataset("cifar100")
    for name in DATASET_NAMES:
        assert name in str(ei.value)
