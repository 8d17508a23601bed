"""Distillation: BERT-family encoders (bert.py), logit KD for imaging/signal models (kd.py), shallower SegFormers
(vit.py), over one training loop (loop.py: checkpoints, resume, Ctrl-C).
"""
