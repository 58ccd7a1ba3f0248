"""Pure-numeric recommenders (no Django): numpy, scipy, scikit-learn, implicit.

data.py          interaction arrays and their weights
matrix.py        customer x product confidence / disliked / seen matrices, id indices
base.py          the common Recommender interface (fit / recommend / similar_items / save)
factorization.py ALS, BPR (implicit) and PureSVD
neighbours.py    item-kNN (cosine) and EASE / DLAE
content.py       TF-IDF and Word2Vec-vector content models (cold products, thin customers)
item2vec.py      item-kNN over item2vec vectors ("viewed together"), vector helpers
popularity.py    popularity (the floor), old API and matrix interface
blend.py         weighted blends of fitted models (hybrids, ensembles)
families.py      every family by name: make_model, load_model
evaluation.py    time split and ranking metrics (per-customer and vectorised)
selection.py     model selection with a budgeted hyperparameter search
"""
