"""Autointerp (SSAE paper Sec. 3.5, App. F): an interpreter explains a feature from its top
activating examples, a predictor labels held-out examples from the explanation alone, F1
scores it. Backends: Claude (the anthropic SDK) or an offline baseline that needs no network.
"""
