"""The breast-cancer demo names its classes as scikit-learn does, not "0" and "1"."""

from __future__ import annotations

from wince.demo.models import breast_cancer_classifier, breast_cancer_data


def test_the_model_and_the_data_use_the_datasets_class_names():
    assert sorted(breast_cancer_classifier().classes_) == ["benign", "malignant"]
    data = breast_cancer_data()
    assert set(data.labels) == {"benign", "malignant"}
