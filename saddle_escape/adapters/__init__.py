"""Adapters: other people's objects in, the toolkit's answers out.

* :mod:`saddle_escape.adapters.torch` (optional extra ``torch``): PyTorch activations and
  ``nn.Sequential`` MLPs, the imbalance identity on a real model, a training-loop monitor
  and a plateau prediction. It imports torch only inside its functions, so importing it
  costs nothing without torch; calling a function that needs torch then raises an
  ImportError that says ``pip install 'saddle-escape[torch]'``.
* :mod:`saddle_escape.adapters.numerical`: the class of an activation given only as a
  callable, from its values (no torch needed).

Nothing here is imported by ``import saddle_escape``.
"""
