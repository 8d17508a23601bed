"""Recipes: named and `auto` recipes for text models (text.py) and imaging/signal models (tensor.py), and recipe files.
"""
