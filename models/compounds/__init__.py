"""Compound scoring models: activity classifiers, solubility regression and candidate ranking.

``features`` turns the ``compound_properties`` evidence table into a feature matrix,
``scaffold_split`` builds Bemis–Murcko scaffold folds, ``metrics`` holds the screening metrics,
``mlp`` the small PyTorch network, ``activity``/``solubility`` train and score the models and
``ranking`` combines predictions with developability into one ranked list.
"""
