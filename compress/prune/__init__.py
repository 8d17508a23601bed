"""Structured pruning: encoder slicing behind a layer accessor (encoder.py) for BERT (bert.py) and ViT (vit.py); CNN
channels (channels.py).
"""
