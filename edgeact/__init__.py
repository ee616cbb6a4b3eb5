"""edgeact: real-time human action recognition for edge devices.

Offline: train and prune a hierarchical Inflated ResNet on skeleton-cropped clips.
Online: a live camera loop that prints the fine action and its superclasses.
"""

__version__ = "0.1.0"
