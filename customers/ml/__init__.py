"""Pure-numeric customer models (no Django): numpy, scipy, scikit-learn.

features.py      per-customer features as of a moment (RFM, engagement, category shares)
segmentation.py  k-means segments: k by silhouette, ids stable across retrains, names
propensity.py    purchase propensity: calibrated probability of buying in a coming window
"""
