"""Pure-numeric campaign code (no Django).

uplift.py   treatment against the holdout, and content variants against each other:
            two-proportion test, Newcombe and Katz intervals, Holm correction, verdicts
"""
