"""Pure-numeric text models (no Django): jieba, scikit-learn, gensim, numpy.

text.py          normalisation, script detection, tokenisers (jieba for Chinese, a Unicode
                 regex for the rest), stop words, character n-grams, sklearn analyzers
classifier.py    TextClassifier: word + character TF-IDF, logistic regression or a
                 calibrated linear SVM chosen by cross-validated macro-F1; evaluate, skops
embeddings.py    Word2Vec and item2vec (gensim) behind WordVectors; document vectors
synthetic.py     seeded reviews, topic texts, product descriptions and browsing sequences
"""
