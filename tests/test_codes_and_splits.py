import pytest

from src.data.splits import carve_eval, eval_subset, train_val_indices
from src.errors import MedtuneError
from src.tasks.coding.codes import normalize_code


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("E11.9", "E11.9"),
        ("e119", "E11.9"),
        (" I10 ", "I10"),
        ("C50", "C50"),
        ("S72.001A", "S72.001A"),
        ("99213", "99213"),
        ("0001F", "0001F"),
        ("A00-B99", None),
        ("E11.99X", None),
        ("XYZ", None),
        ("", None),
    ],
)
def test_normalize_code(raw, expected):
    assert normalize_code(raw) == expected


def test_training_subsets_are_nested_and_the_validation_slice_is_fixed():
    small_train, small_val = train_val_indices(1000, 100, 50, seed=3)
    big_train, big_val = train_val_indices(1000, 500, 50, seed=3)
    assert set(small_train) <= set(big_train)
    assert small_val == big_val and len(small_val) == 50  # one calibration slice per sweep
    assert not set(big_train) & set(big_val)
    assert (len(small_train), len(big_train)) == (100, 500)
    assert train_val_indices(1000, 100, 50, seed=3) == (small_train, small_val)
    assert train_val_indices(1000, 100, 50, seed=4) != (small_train, small_val)
    assert len(train_val_indices(1000, None, 0.1, seed=3)[1]) == 100  # a share of the pool
    assert len(train_val_indices(1000, None, 0.1, seed=3)[0]) == 900  # null: the rest of it


def test_carved_eval_split_ignores_train_size():
    pool, evaluation = carve_eval(200, 0.2, seed=0)
    assert len(evaluation) == 40 and not set(pool) & set(evaluation)
    assert carve_eval(200, 0.2, seed=0)[1].tolist() == evaluation.tolist()


def test_train_size_larger_than_data_is_a_clear_error():
    with pytest.raises(MedtuneError, match="data.train_size=50 .* only 10 .* 1 of them the validation"):
        train_val_indices(10, 50, 0.1, seed=0)
    with pytest.raises(MedtuneError, match="data.train_size=10 .* lower data.train_size or data.val_size"):
        train_val_indices(10, 10, 2, seed=0)


def test_eval_subset_is_fixed_nested_and_in_file_order():
    small, large = eval_subset(1000, 200, seed=0), eval_subset(1000, 500, seed=0)
    assert len(small) == 200 and set(small) <= set(large) and small == sorted(small)
    assert eval_subset(1000, 200, seed=0) == small
    assert eval_subset(50, None, seed=0) == list(range(50))
    assert eval_subset(50, 80, seed=0) == list(range(50))
